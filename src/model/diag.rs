//! Errors in a lab file: each names file:line:column, underlines the text and
//! gives a hint. Rendered by miette.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

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
#[derive(Clone)]
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

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
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

impl fmt::Display for LabFileError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.problems.len() {
            1 => write!(f, "invalid lab file {}", self.path),
            n => write!(f, "invalid lab file {} ({n} problems)", self.path),
        }
    }
}

impl std::error::Error for LabFileError {}

/// A single problem rendered on its own, with the file as source.
#[derive(Debug)]
struct Standalone {
    problem: Problem,
    source: NamedSource<Arc<str>>,
}

impl fmt::Display for Standalone {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Standalone {}

impl Diagnostic for Standalone {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem
            .hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.problem.span;
        let len = if span.offset >= self.source.inner().len() {
            0
        } else {
            span.len.max(1)
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(self.problem.label.clone()),
            span.offset,
            len,
        ))))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
}

/// Lines longer than this are not drawn: an underline far to the right
/// helps nobody, and miette cannot draw one past column 65535 at all (it
/// panics), which a hostile file reaches easily.
const MAX_DRAWN_LINE: usize = 1000;

impl LabFileError {
    /// The length of the longest line miette would draw for `p` (the lines
    /// of its span and one on each side), if it is too long to draw.
    fn too_wide(&self, p: &Problem) -> Option<usize> {
        let text = &*self.text;
        let start = floor_char_boundary(text, p.span.offset.min(text.len()));
        let end = floor_char_boundary(text, (p.span.offset + p.span.len).min(text.len()));
        let from = text[..start].rfind('\n').map_or(0, |i| i);
        let from = text[..from].rfind('\n').map_or(0, |i| i + 1);
        let to = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
        let to = text[to..].find('\n').map_or(text.len(), |i| to + i);
        let widest = text[from..to].split('\n').map(str::len).max().unwrap_or(0);
        (widest > MAX_DRAWN_LINE).then_some(widest)
    }

    /// One problem without the drawing: message, place, hint.
    fn plain_report(&self, p: &Problem, width: usize) -> String {
        let (l, c) = self.line_col(p.span.offset);
        let mut out = format!(
            "  × {}\n    at {}:{l}:{c} (a line of {width} bytes: not shown)\n",
            p.message, self.path
        );
        if let Some(h) = &p.hint {
            out.push_str(&format!("  help: {h}\n"));
        }
        out.push('\n');
        out
    }

    /// Render every problem with miette: file:line:column, the line, the
    /// text underlined, and the hint.
    pub fn render(&self, color: bool) -> String {
        let handler = miette::GraphicalReportHandler::new_themed(if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        })
        .with_context_lines(1);
        let mut out = String::new();
        for p in &self.problems {
            if let Some(width) = self.too_wide(p) {
                out.push_str(&self.plain_report(p, width));
                continue;
            }
            let d = Standalone {
                problem: p.clone(),
                source: NamedSource::new(self.path.clone(), self.text.clone()),
            };
            let _ = handler.render_report(&mut out, &d);
            out.push('\n');
        }
        let n = self.problems.len();
        out.push_str(&format!(
            "{} problem{} in {}\n",
            n,
            if n == 1 { "" } else { "s" },
            self.path
        ));
        out
    }
}
