//! A function that cannot be configured stops at cold start, naming what is wrong.

mod support;

use avvio_functions::config::{self, ConfigError};
use avvio_functions::wiring::{self, Clients};
use support::{OwnedEnv, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_parameter_that_does_not_exist_stops_ingest_naming_it() {
    let system = System::start().await;
    let mut env = system.env.clone();
    env.insert(config::APP_SECRET_PARAMETER, "/avvio/no-such-secret".into());
    let error =
        wiring::ingest(&OwnedEnv(&env), &Clients::new(&system.aws)).await.err().expect("ingest refuses to start");
    assert!(
        matches!(&error, ConfigError::Parameter { variable, name, .. }
                 if *variable == config::APP_SECRET_PARAMETER && name == "/avvio/no-such-secret"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the SSM parameter `/avvio/no-such-secret` (named by WHATSAPP_APP_SECRET_PARAMETER) cannot be read: no such parameter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_names_the_first_variable_it_misses() {
    let system = System::start().await;
    let clients = Clients::new(&system.aws);
    for function in config::Function::ALL {
        for variable in function.variables() {
            let mut env = system.env.clone();
            env.remove(variable);
            let started = match function {
                config::Function::Ingest => wiring::ingest(&OwnedEnv(&env), &clients).await.map(|_| ()),
                // The matcher also queues the next page of a list run on the events queue.
                config::Function::Matcher => match wiring::sending(&OwnedEnv(&env), &clients).await {
                    Ok(_) => wiring::events(&OwnedEnv(&env), &clients)
                        .and_then(|_| wiring::dead_letters(&OwnedEnv(&env), &clients))
                        .map(|_| ()),
                    Err(e) => Err(e),
                },
                config::Function::Executor => match wiring::sending(&OwnedEnv(&env), &clients).await {
                    Ok(_) => wiring::dead_letters(&OwnedEnv(&env), &clients).map(|_| ()),
                    Err(e) => Err(e),
                },
                config::Function::Clock => wiring::queueing(&OwnedEnv(&env), &clients).await.map(|_| ()),
            };
            let optional = [config::WHATSAPP_API_BASE, config::ACCESS_TOKEN_PARAMETER].contains(variable);
            match started {
                Ok(()) => assert!(optional, "{} started without {variable}", function.binary()),
                Err(error) => assert_eq!(error, ConfigError::Missing(variable), "{}", function.binary()),
            }
        }
    }
}
