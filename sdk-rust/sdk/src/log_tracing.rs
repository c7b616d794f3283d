//! The `tracing` feature: `tracing` events (`info!`, `debug!`, … from the app and the crates it
//! uses) become host log lines, `LEVEL target: message key=value …`, at or above the level
//! [`set_log_level`] sets (default `WARN`; each call starts at the default, as each call runs
//! in a fresh instance on the node).

use std::fmt::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(2);
static INSTALL: Once = Once::new();

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// Sets the most verbose level that reaches the host log: `set_log_level(LevelFilter::DEBUG)`.
pub fn set_log_level(level: LevelFilter) {
    let value = level.into_level().map_or(0, |level| rank(&level));
    MAX_LEVEL.store(value, Ordering::Release);
    install();
}

/// Makes the host-log subscriber the global default (once per instance).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // Fails only if the app installed a subscriber of its own: that one is kept.
        let _ = tracing::subscriber::set_global_default(HostLog);
    });
}

struct HostLog;

struct Line {
    text: String,
    message: Option<String>,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }
}

impl Subscriber for HostLog {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level changes at run time: no callsite's answer may be cached.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        rank(metadata.level()) <= MAX_LEVEL.load(Ordering::Acquire)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // The level changes at run time: let every callsite ask `enabled`.
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut line = Line {
            text: String::new(),
            message: None,
        };
        event.record(&mut line);
        crate::env::log(&format!(
            "{} {}: {}{}",
            metadata.level(),
            metadata.target(),
            line.message.unwrap_or_default(),
            line.text
        ));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
