//! ota-cloud (work in progress).
