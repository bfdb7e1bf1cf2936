//! Nearest-neighbour index for Prism's example-based explanations (work in progress).
