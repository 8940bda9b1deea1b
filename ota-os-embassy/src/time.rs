//! Conversions between embassy-time and the core's time.

/// The core's `now` from embassy-time's clock (milliseconds since boot).
pub fn now() -> ota_core::Instant {
    to_core(embassy_time::Instant::now())
}

/// An embassy instant as the core's.
pub fn to_core(t: embassy_time::Instant) -> ota_core::Instant {
    ota_core::Instant::from_millis(t.as_millis())
}

/// A core deadline as an embassy instant.
pub fn to_embassy(t: ota_core::Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_millis(t.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_milliseconds() {
        let t = ota_core::Instant::from_millis(123_456);
        assert_eq!(to_core(to_embassy(t)), t);
        let e = embassy_time::Instant::from_millis(42);
        assert_eq!(to_core(e).as_millis(), 42);
    }
}
