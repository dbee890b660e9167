//! Progress of a long command (`gc`, `import-node`): a bar on a terminal, a plain line a
//! second otherwise (a log, a CI job), and a final line.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often plain progress lines are written when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(1);

/// What a command's progress says: `gc: deleted 10 of 20 expired sessions (50%)`, and on a
/// terminal `deleting expired sessions [===>   ] 10/20`.
#[derive(Clone, Copy)]
pub struct Words {
    pub command: &'static str,
    pub doing: &'static str,
    pub done: &'static str,
    pub what: &'static str,
}

/// Progress as a bar on a terminal, as a line a second otherwise.
pub struct Progress {
    words: Words,
    shown: Shown,
}

enum Shown {
    Bar(ProgressBar),
    Lines { last: Instant, total: Option<u64> },
}

impl Progress {
    /// Progress towards `total` items (unknown: a spinner and a count).
    pub fn new(total: Option<u64>, words: Words) -> Self {
        if !std::io::stderr().is_terminal() {
            let last = Instant::now();
            let shown = Shown::Lines { last, total };
            return Progress { words, shown };
        }
        let Words {
            doing, done, what, ..
        } = words;
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::new(total),
                format!(
                    "{{spinner}} {doing} [{{bar:40}}] {{human_pos}}/{{human_len}} ({{elapsed}}, {{eta}} left)"
                ),
            ),
            None => (
                ProgressBar::new_spinner(),
                format!("{{spinner}} {done} {{human_pos}} {what} ({{elapsed}})"),
            ),
        };
        let style = ProgressStyle::with_template(&template)
            .expect("the template is valid")
            .progress_chars("=> ");
        let bar = bar.with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress {
            words,
            shown: Shown::Bar(bar),
        }
    }

    /// `count` items are done so far.
    pub fn done(&mut self, count: u64) {
        match &mut self.shown {
            Shown::Bar(bar) => {
                if bar.length().is_some_and(|length| count > length) {
                    bar.set_length(count);
                }
                bar.set_position(count);
            }
            Shown::Lines { last, total } => {
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", line(self.words, count, *total));
                }
            }
        }
    }

    /// Clears the bar, or writes the final line.
    pub fn finish(self, count: u64) {
        match self.shown {
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines { total, .. } => eprintln!("{}", line(self.words, count, total)),
        }
    }
}

fn line(words: Words, count: u64, total: Option<u64>) -> String {
    let Words {
        command,
        done,
        what,
        ..
    } = words;
    match total {
        Some(total) if total > 0 => format!(
            "{command}: {done} {count} of {total} {what} ({}%)",
            count.min(total) * 100 / total
        ),
        _ => format!("{command}: {done} {count} {what}"),
    }
}
