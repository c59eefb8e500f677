//! The `avvio` command: `dev` runs the whole system on localhost (in memory), `serve` on a
//! durable database file, `validate` checks automation files, `simulate` runs them on a
//! virtual clock.

mod dev;
mod serve;

use anyhow::Context;
use avvio_common::domain::workspace::Workspace;
use avvio_common::simulate::{Inputs, SimError, Simulation};
use avvio_common::validate::{Problem, check_set, read_documents};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Loading and simulating allocate many small objects; mimalloc keeps that fast
/// where glibc's allocator fragments (see the README's performance figures).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "avvio", version, about = "WhatsApp Business automations: validate, simulate, run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally on in-memory adapters (with no files: the examples).
    Dev {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, value_name = "FILE")]
        workspace: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        automations: Option<PathBuf>,
    },
    /// Run the whole system on a durable embedded database (one SQLite file) that survives
    /// restarts and crashes. Needs AVVIO_API_KEY, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN.
    Serve {
        /// The database file (created when missing).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
    },
    /// Check automation files; exit 1 with one `FILE: PATH: message` line per problem.
    Validate {
        /// The workspace document, to check template params against its templates.
        #[arg(long, value_name = "FILE")]
        workspace: Option<PathBuf>,
        /// Automation files: one automation or an array of them each.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run the engine on a virtual clock and print one JSON line per effect.
    Simulate {
        #[arg(long, value_name = "FILE")]
        workspace: PathBuf,
        /// Automations file(s): one automation or an array each.
        #[arg(long, value_name = "FILE", required = true)]
        automations: Vec<PathBuf>,
        /// Events, one JSON object per line.
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// Run the clock to this instant (default: 31 days after the last event).
        #[arg(long, value_name = "RFC3339", value_parser = parse_until)]
        until: Option<avvio_common::time::Time>,
    },
}

fn parse_until(raw: &str) -> Result<avvio_common::time::Time, String> {
    avvio_common::time::parse_rfc3339(raw).map_err(|e| format!("`{raw}` is not an RFC 3339 timestamp: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev { port, workspace, automations } => {
            dev::run(dev::DevOptions { port, workspace: workspace.as_deref(), automations: automations.as_deref() })
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Serve { data, listen } => {
            serve::run(serve::ServeOptions { data: &data, listen }).map(|()| ExitCode::SUCCESS)
        }
        Command::Validate { workspace, files } => validate(workspace.as_deref(), &files),
        Command::Simulate { workspace, automations, events, until } => {
            simulate(&workspace, &automations, &events, until)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("avvio: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_workspace(path: &Path) -> anyhow::Result<Workspace> {
    parse_workspace(&path.display().to_string(), &read(path)?)
}

/// Reads a workspace file; a template Meta would refuse, or an account id that is not one, is
/// refused as `PUT /v1/workspace` refuses it.
fn parse_workspace(name: &str, text: &str) -> anyhow::Result<Workspace> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let workspace: Workspace =
        serde_path_to_error::deserialize(de).map_err(|e| anyhow::anyhow!("{name}: {}: {}", e.path(), e.inner()))?;
    for (i, template) in workspace.templates.iter().enumerate() {
        if let Some(issue) = avvio_common::validate::validate_template(template).into_iter().next() {
            anyhow::bail!("{name}: templates[{i}].{}: {}", issue.path, issue.message);
        }
    }
    if let Some(issue) =
        workspace.whatsapp.as_ref().and_then(|a| avvio_common::validate::validate_account(a).into_iter().next())
    {
        anyhow::bail!("{name}: {}: {}", issue.path, issue.message);
    }
    Ok(workspace)
}

fn validate(workspace: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let workspace = workspace.map(read_workspace).transpose()?;
    let mut documents = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    for path in files {
        match read_documents(&path.display().to_string(), &read(path)?) {
            Ok(docs) => documents.extend(docs),
            Err(problem) => problems.push(problem),
        }
    }
    if let Err(found) = check_set(documents, workspace.as_ref()) {
        problems.extend(found);
    }
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for problem in &problems {
        writeln!(out, "{problem}")?;
    }
    Ok(ExitCode::FAILURE)
}

/// The longest line an events file may hold: what `POST /v1/simulate` reads as a whole body.
const MAX_EVENT_LINE_BYTES: usize = avvio_api::simulate::MAX_BODY_BYTES;

/// Reads an events file line by line: a line longer than [`MAX_EVENT_LINE_BYTES`] is refused,
/// naming it, before more of it is read (memory stays bounded however long the line).
fn read_events(path: &Path) -> anyhow::Result<String> {
    use std::io::{BufRead, Read};
    let name = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut text = Vec::new();
    for number in 1.. {
        let read = (&mut reader)
            .take(MAX_EVENT_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut text)
            .with_context(|| format!("cannot read {name}"))?;
        if read == 0 {
            break;
        }
        if read - usize::from(text.ends_with(b"\n")) > MAX_EVENT_LINE_BYTES {
            anyhow::bail!(
                "{name}: line {number}: the line is longer than {MAX_EVENT_LINE_BYTES} bytes, the most an event may take"
            );
        }
    }
    String::from_utf8(text).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        anyhow::anyhow!("{name}: line {line}: not UTF-8")
    })
}

fn simulate(
    workspace: &Path,
    automations: &[PathBuf],
    events: &Path,
    until: Option<avvio_common::time::Time>,
) -> anyhow::Result<ExitCode> {
    let workspace_text = read(workspace)?;
    let events_text = read_events(events)?;
    let mut documents = Vec::new();
    for path in automations {
        documents
            .extend(read_documents(&path.display().to_string(), &read(path)?).map_err(|p| anyhow::anyhow!("{p}"))?);
    }
    let mut simulation = match Simulation::load(Inputs {
        workspace_file: &workspace.display().to_string(),
        workspace: &workspace_text,
        automations: documents,
        events_file: &events.display().to_string(),
        events: &events_text,
        until,
    }) {
        Ok(simulation) => simulation,
        Err(
            e @ (SimError::Workspace { .. }
            | SimError::Automations(_)
            | SimError::Event { .. }
            | SimError::UntilBeforeEvents { .. }),
        ) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let mut write_error = None;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(simulation.run(|line| {
        if write_error.is_none() {
            if let Err(e) =
                serde_json::to_writer(&mut out, line).map_err(std::io::Error::from).and_then(|()| out.write_all(b"\n"))
            {
                write_error = Some(e);
            }
        }
    }))?;
    if let Some(e) = write_error {
        // A closed pipe (`avvio simulate … | head`) is not a failure of the simulation.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    out.flush().or_else(|e| if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) })?;
    Ok(ExitCode::SUCCESS)
}
