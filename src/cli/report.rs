//! Lab file errors drawn for a terminal: file:line:column, the line, the
//! text underlined, and the hint. The one place miette is used: the library
//! returns plain `LabFileError`s; how they look is the commands' business.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use crate::model::LabFileError;
use crate::model::diag::{Problem, floor_char_boundary};

/// A single problem rendered on its own, with the file as source.
#[derive(Debug, thiserror::Error)]
#[error("{}", problem.message)]
struct Standalone {
    problem: Problem,
    code: NamedSource<Arc<str>>,
}

impl Diagnostic for Standalone {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem
            .hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.problem.span;
        let len = if span.offset >= self.code.inner().len() {
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
        Some(&self.code)
    }
}

/// Lines longer than this are not drawn: an underline far to the right
/// helps nobody, and miette cannot draw one past column 65535 at all (it
/// panics), which a hostile file reaches easily.
const MAX_DRAWN_LINE: usize = 1000;

/// The length of the longest line miette would draw for `p` (the lines
/// of its span and one on each side), if it is too long to draw.
fn too_wide(e: &LabFileError, p: &Problem) -> Option<usize> {
    let text = &*e.text;
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
fn plain_report(e: &LabFileError, p: &Problem, width: usize) -> String {
    let (l, c) = e.line_col(p.span.offset);
    let mut out = format!(
        "  × {}\n    at {}:{l}:{c} (a line of {width} bytes: not shown)\n",
        p.message, e.path
    );
    if let Some(h) = &p.hint {
        out.push_str(&format!("  help: {h}\n"));
    }
    out.push('\n');
    out
}

/// Render every problem with miette: file:line:column, the line, the
/// text underlined, and the hint.
pub(crate) fn lab_file(e: &LabFileError, color: bool) -> String {
    let handler = miette::GraphicalReportHandler::new_themed(if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    })
    .with_context_lines(1);
    let mut out = String::new();
    for p in &e.problems {
        if let Some(width) = too_wide(e, p) {
            out.push_str(&plain_report(e, p, width));
            continue;
        }
        let d = Standalone {
            problem: p.clone(),
            code: NamedSource::new(e.path.clone(), e.text.clone()),
        };
        let _ = handler.render_report(&mut out, &d);
        out.push('\n');
    }
    let n = e.problems.len();
    out.push_str(&format!(
        "{} problem{} in {}\n",
        n,
        if n == 1 { "" } else { "s" },
        e.path
    ));
    out
}
