//! tree-AH recall against brute force.
