//! Logging through `defmt` or `log` (features of the same names), or nothing.
#![allow(unused_macros)]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("features `defmt` and `log` are mutually exclusive");

macro_rules! log_info {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::info!($($t)*);
        #[cfg(feature = "log")]
        ::log::info!($($t)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        { let _ = ($crate::fmt::Discard, $($t)*); }
    }};
}

macro_rules! log_warn {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($t)*);
        #[cfg(feature = "log")]
        ::log::warn!($($t)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        { let _ = ($crate::fmt::Discard, $($t)*); }
    }};
}

/// Marker that lets the no-logging expansion evaluate (and so "use") the arguments.
#[allow(dead_code)]
pub(crate) struct Discard;

#[allow(unused_imports)]
pub(crate) use {log_info, log_warn};
