//! Creates Avvio's table, queues (with their dead-letter queues) and schedule group
//! on a local emulator, named and configured as `template.yaml` declares them, and
//! prints the functions' environment for them:
//!
//! ```sh
//! source scripts/moto
//! cargo run -p avvio-functions --example local_bootstrap -- avvio-local
//! ```

use avvio_functions::config;
use avvio_functions::local::{DEPLOYED, bootstrap};

#[tokio::main]
async fn main() {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "avvio-local".into());
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("AWS_ENDPOINT_URL is not set: this creates resources on a local emulator (`source scripts/moto`)");
        std::process::exit(2);
    }
    let aws = avvio_functions::wiring::aws_config().await;
    match bootstrap(&aws, &prefix, &DEPLOYED).await {
        Ok(created) => {
            println!("export {}={}", config::TABLE, created.table);
            println!("export {}={}", config::EVENTS_QUEUE_URL, created.events.url);
            println!("export {}={}", config::STEPS_QUEUE_URL, created.steps.url);
            println!("export {}={}", config::STEPS_QUEUE_ARN, created.steps.arn);
            println!("export {}={}", config::SCHEDULE_GROUP, created.schedule_group);
        }
        Err(e) => {
            eprintln!("cannot create the resources: {e}");
            std::process::exit(1);
        }
    }
}
