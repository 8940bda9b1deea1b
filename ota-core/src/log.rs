//! Logging through `defmt` (feature `defmt`) or `log` (feature `log`); nothing otherwise.
//! Format strings use only `{}` with `&str`/integers and `{:?}` with types that derive both
//! `Debug` and (under `defmt`) `defmt::Format`, so one call site serves both back ends.

macro_rules! ota_info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::info!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        log::info!($($arg)*);
    }};
}

macro_rules! ota_warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::warn!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        log::warn!($($arg)*);
    }};
}

macro_rules! ota_debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::debug!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        log::debug!($($arg)*);
    }};
}

pub(crate) use {ota_debug, ota_info, ota_warn};
