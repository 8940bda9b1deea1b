//! ota-os-std (work in progress; see the issue tracker).

