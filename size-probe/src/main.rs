//! Agent probe: every agent entry point is reachable from `_start` with opaque inputs, so the
//! linker keeps exactly what a firmware using the agent would keep. Not a runnable program.
#![no_std]
#![no_main]

use core::hint::black_box;
use ota_core::*;
use size_probe as _; // the panic handler

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let mut block = [0u8; 4096];
    let mut job = [0u8; 4096];
    let mut bitmap = [0u8; 128];
    let mut url = [0u8; 2048];
    let buffers = Buffers {
        block: &mut block,
        job: &mut job,
        bitmap: &mut bitmap,
        url: &mut url,
    };
    let cfg = Config::new(black_box("thing"), Version::new(1, 0, 0));
    #[cfg(not(feature = "p256"))]
    let verifier = size_probe::Refuse;
    #[cfg(feature = "p256")]
    let keys: [ota_core::verify::TrustedKey<'_>; 0] = [];
    #[cfg(feature = "p256")]
    let verifier = ota_core::verify::P256Verifier::new(black_box(&keys));
    let Ok(mut agent) = Agent::new(cfg, buffers, verifier) else {
        loop {}
    };
    let input_bytes: &[u8] = black_box(&[]);
    loop {
        let now = Instant::from_millis(black_box(0));
        let kind: u8 = black_box(0);
        let topic: &str = black_box("t");
        let input = match kind {
            0 => Input::Start(BootInfo {
                platform_state: PlatformImageState::Valid,
                resume: Some(input_bytes),
            }),
            1 => Input::Message {
                topic,
                payload: input_bytes,
            },
            2 => Input::HttpResponse {
                status: black_box(206),
                content_range: ota_core::codec::http::parse_content_range(input_bytes).ok(),
            },
            3 => Input::HttpBody(input_bytes),
            4 => Input::HttpDone,
            5 => Input::HttpFailed,
            6 => Input::PlatformDone(Ok(())),
            7 => Input::FileData(Ok(input_bytes)),
            8 => Input::Link(black_box(true)),
            _ => Input::Command(Command::CheckForUpdate),
        };
        let _ = agent.handle(now, input);
        agent.handle_timeout(now);
        while let Some(a) = agent.poll() {
            black_box(&a);
        }
        black_box(agent.poll_timeout());
        black_box(agent.statistics());
        black_box(agent.state());
    }
}
