//! ota-sim (work in progress; see the issue tracker).

