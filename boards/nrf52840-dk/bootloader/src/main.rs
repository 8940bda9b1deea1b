//! The bootloader of the nRF52840-DK OTA firmware (embassy-boot).
//!
//! At every reset it reads the state partition: after the application activated an update
//! (`Swap`), it swaps DFU and ACTIVE page by page (resumable after a power cut) and boots the
//! new image on trial; if that image does not confirm itself (`mark_booted`, done by the
//! agent when the self-test passes) before the next reset, it swaps back. It also starts the
//! watchdog: an application that hangs is reset, and a hanging image on trial is rolled back.
#![no_std]
#![no_main]

use core::cell::RefCell;
use cortex_m_rt::entry;
use embassy_boot_nrf::{BootLoader, BootLoaderConfig, WatchdogFlash};
use embassy_nrf::nvmc::Nvmc;
use embassy_nrf::wdt::{self, HaltConfig, SleepConfig};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
// Logs over RTT; a panic (a failed swap) halts until the watchdog resets the chip, and the
// swap resumes where it stopped.
use {defmt_rtt as _, panic_probe as _};

/// Watchdog period: 20 s of 32.768 kHz ticks. The application takes the running watchdog over
/// with exactly this configuration (app/src/main.rs, `WATCHDOG_TICKS`).
const WATCHDOG_TICKS: u32 = 20 * 32_768;

#[entry]
fn main() -> ! {
    let p = embassy_nrf::init(Default::default());

    let mut wdt_config = wdt::Config::default();
    wdt_config.timeout_ticks = WATCHDOG_TICKS;
    wdt_config.action_during_sleep = SleepConfig::Run;
    // A debugger halting the CPU must not reset it.
    wdt_config.action_during_debug_halt = HaltConfig::Pause;

    let flash = WatchdogFlash::start(Nvmc::new(p.NVMC), p.WDT, wdt_config);
    let flash = Mutex::<NoopRawMutex, _>::new(RefCell::new(flash));
    let config = BootLoaderConfig::from_linkerfile_blocking(&flash, &flash, &flash);
    let active_offset = config.active.offset();
    let bl: BootLoader = BootLoader::prepare(config);

    // SAFETY: ACTIVE holds an application linked at `active_offset` (app/memory.x); `load`
    // sets VTOR and the stack pointer from its vector table and jumps to its reset handler.
    unsafe { bl.load(active_offset) }
}
