//! The device binary and the emulator (as a client) on Debian's mosquitto.

mod common;

use common::mosquitto::Mosquitto;
use common::*;
use ota_cloud::{JobExecutionStatus as S, Protocol};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_binary_updates_through_mosquitto_with_the_emulator_as_a_client() {
    let m = Mosquitto::start();
    let env = Env::with_broker(None, m.port).await;
    let _d = env.device("dev", &[]);
    env.job("j1", "dev", img("1.0.1"), Protocol::Mqtt, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "j1", 30).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j1")
    );
    env.wait_version("dev", "1.0.1", 10).await;
    // And a refused one, through the same broker.
    env.job("j2", "dev", img("1.0.0"), Protocol::Mqtt, env.signed());
    assert_ne!(env.wait_terminal("dev", "j2", 30).await, S::Succeeded);
    env.wait_version("dev", "1.0.1", 10).await;
}
