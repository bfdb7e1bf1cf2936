//! Adding, deleting and upserting without rebuilding.
