//! Integration tests of prism-viz: one binary, one module per concern.
