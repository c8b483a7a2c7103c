//! Scraping: discovery output turned into targets, one scrape loop per target, and the
//! exposition parsers the loops feed pages through.
//!
//! SKELETON: `exposition` is the parser contract; the scrape manager lands beside it.

pub mod exposition;
