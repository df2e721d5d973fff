//! Executable log pipeline stages.
