//! `avvio simulate` on events files no one should write (issue 17): a line of 100 MB is
//! refused naming the line, in bounded memory (the child's `VmHWM` is watched while it runs);
//! a line at the limit is still read; bytes that are not UTF-8 are refused naming the line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The longest events line `avvio simulate` reads: what `POST /v1/simulate` takes as a body.
const MAX_LINE: usize = avvio_api::simulate::MAX_BODY_BYTES;

const CONTACT: &str = r#"{"at":"2026-11-23T09:00:00Z","contact":{"phone":"393331234567","name":"Mario"}}"#;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name).display().to_string()
}

/// A scratch directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avvio-sim-bad-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `avvio simulate` on the examples with this events file, and the most memory its process held
/// (`VmHWM`, in bytes) as last seen while it ran.
fn simulate(events: &Path) -> (Output, Option<u64>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_avvio"))
        .args(["simulate", "--workspace", &example("workspace.json")])
        .args(["--automations", &example("automations.json"), "--events"])
        .arg(events)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("avvio runs");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = None;
    while child.try_wait().unwrap().is_none() {
        // Once it has exited (a zombie) the file has no VmHWM line any more: the last seen is the peak.
        if let Some(kib) = std::fs::read_to_string(&status).ok().as_deref().and_then(high_water_mark_kib) {
            peak = Some(kib * 1024);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (child.wait_with_output().unwrap(), peak)
}

/// `VmHWM:   12345 kB` of a `/proc/<pid>/status`.
fn high_water_mark_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An events file: [`CONTACT`], then a contact event whose name is `name_bytes` long, padded
/// with spaces after the JSON to `line_bytes` in all when given. Written in pieces, so the
/// test itself never holds the line.
fn events_with_a_long_line(dir: &Path, name_bytes: usize, line_bytes: Option<usize>) -> PathBuf {
    let path = dir.join("events.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "{CONTACT}").unwrap();
    let (open, close) = (r#"{"at":"2026-11-23T09:01:00Z","contact":{"phone":"393339876543","name":""#, r#""}}"#);
    file.write_all(open.as_bytes()).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut left = name_bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    file.write_all(close.as_bytes()).unwrap();
    if let Some(line_bytes) = line_bytes {
        let written = open.len() + name_bytes + close.len();
        file.write_all(&vec![b' '; line_bytes - written]).unwrap();
    }
    writeln!(file).unwrap();
    writeln!(file, "{}", CONTACT.replace("09:00:00Z", "09:02:00Z")).unwrap();
    file.flush().unwrap();
    path
}

#[test]
fn an_events_line_of_a_hundred_megabytes_is_refused_naming_the_line_in_bounded_memory() {
    let dir = scratch("hundred-mb");
    let events = events_with_a_long_line(&dir, 100_000_000, None);
    let (out, peak) = simulate(&events);
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = format!("{}: line 2: the line is longer than {MAX_LINE} bytes", events.display());
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing runs when the input is bad");
    let peak = peak.expect("the process was seen running");
    assert!(peak < 64 << 20, "the line is not buffered whole: {} MiB held at the most", peak >> 20);
}

#[test]
fn an_events_line_as_long_as_the_limit_is_read() {
    let dir = scratch("at-limit");
    let events = events_with_a_long_line(&dir, MAX_LINE - 1024, Some(MAX_LINE));
    let (out, _) = simulate(&events);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_events_line_one_byte_over_the_limit_is_refused_naming_it() {
    let dir = scratch("over-limit");
    let events = events_with_a_long_line(&dir, MAX_LINE - 1024, Some(MAX_LINE + 1));
    let (out, _) = simulate(&events);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2: the line is longer than"), "{}", stderr(&out));
}

#[test]
fn an_events_file_that_is_not_utf8_is_refused_naming_the_line() {
    let dir = scratch("not-utf8");
    let events = dir.join("events.jsonl");
    let name = br#"{"at":"2026-11-23T09:01:00Z","contact":{"phone":"393339876543","name":"Mar"#;
    let bad = [name.as_slice(), &[0xC3, 0x28], br#"o"}}"#].concat();
    std::fs::write(&events, [CONTACT.as_bytes(), b"\n\n", &bad, b"\n"].concat()).unwrap();
    let (out, _) = simulate(&events);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("{}: line 3: not UTF-8", events.display())), "{}", stderr(&out));
}
