//! The page, embedded in the binary: plain HTML, one ES module, one style
//! sheet. No CDN, no build step.

pub(super) const INDEX: &str = include_str!("assets/index.html");
pub(super) const APP_JS: &str = include_str!("assets/app.js");
pub(super) const STYLE: &str = include_str!("assets/style.css");
