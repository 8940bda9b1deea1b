//! ota-sim (work in progress; see the issue tracker).
#![no_std]
