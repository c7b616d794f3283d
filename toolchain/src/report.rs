//! How a build reports its steps: aligned human lines on stderr, or JSON lines on stdout.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Output style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

/// Reports steps as they finish.
pub struct Reporter {
    format: MessageFormat,
}

/// A spinner shown on a terminal while a slow step runs.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Reporter {
    /// A reporter in `format`.
    pub fn new(format: MessageFormat) -> Self {
        Self { format }
    }

    /// Whether output is JSON (then the child cargo's messages stay on stderr).
    pub fn is_json(&self) -> bool {
        self.format == MessageFormat::Json
    }

    /// Announces a step; on a terminal a spinner turns until the returned guard is dropped.
    pub fn start(&self, step: &str) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let interactive = self.format == MessageFormat::Human && std::io::stderr().is_terminal();
        let thread = interactive.then(|| {
            let (stop, step) = (stop.clone(), step.to_owned());
            std::thread::spawn(move || {
                let started = Instant::now();
                let frames = ['|', '/', '-', '\\'];
                let mut frame = 0;
                while !stop.load(Ordering::Relaxed) {
                    eprint!(
                        "\r  {} {step} {:.1}s ",
                        frames[frame % 4],
                        started.elapsed().as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                    frame += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                eprint!("\r{}\r", " ".repeat(step.len() + 16));
            })
        });
        Spinner { stop, thread }
    }

    /// A finished step with its duration and a detail.
    pub fn step(&self, step: &str, took: Duration, detail: &str) {
        match self.format {
            MessageFormat::Human => eprintln!("  {step:<10} {:>8.2}s  {detail}", took.as_secs_f64()),
            MessageFormat::Json => self.json(json!({"reason": "step", "step": step, "seconds": took.as_secs_f64(), "detail": detail})),
        }
    }

    /// A line of information.
    pub fn note(&self, message: &str) {
        match self.format {
            MessageFormat::Human => eprintln!("{message}"),
            MessageFormat::Json => self.json(json!({"reason": "note", "message": message})),
        }
    }

    /// A JSON message on stdout (one per line).
    pub fn json(&self, value: Value) {
        println!("{value}");
    }
}
