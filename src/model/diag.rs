//! Errors in a lab file: each names file:line:column, the text to underline
//! and a hint. Drawn for a terminal (with miette) by the commands, in
//! src/cli/report.rs; here they are plain data.

use std::fmt;
use std::sync::Arc;

use super::raw::Span;

/// One problem at one place in the file.
#[derive(Clone, Debug)]
pub struct Problem {
    pub message: String,
    pub span: Span,
    pub label: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>, span: Span) -> Problem {
        Problem {
            message: message.into(),
            span,
            label: "here".into(),
            hint: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Problem {
        self.label = label.into();
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }
}

/// Every problem found in one lab file (validation does not stop at the first).
#[derive(Clone, thiserror::Error)]
#[error("invalid lab file {path}{}", count_note(problems.len()))]
pub struct LabFileError {
    pub path: String,
    pub text: Arc<str>,
    pub problems: Vec<Problem>,
}

impl LabFileError {
    /// Line and column (1-based, in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// `file:line:col: message` lines, for logs and non-terminal output.
    pub fn plain_lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| {
                let (l, c) = self.line_col(p.span.offset);
                format!("{}:{l}:{c}: {}", self.path, p.message)
            })
            .collect()
    }
}

/// The largest char boundary at or below `i`.
pub fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Debug for LabFileError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_list().entries(self.plain_lines()).finish()
    }
}

fn count_note(n: usize) -> String {
    match n {
        1 => String::new(),
        n => format!(" ({n} problems)"),
    }
}
