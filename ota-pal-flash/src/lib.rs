//! ota-pal-flash (work in progress; see the issue tracker).
#![no_std]
