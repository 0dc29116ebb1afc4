//! Integration tests of the policies crate: one binary, a module per concern.

mod check;
mod decisions;
mod errors;
mod examples;
mod loading;
mod malformed;
mod properties;
