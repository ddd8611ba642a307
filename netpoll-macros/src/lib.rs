//! Attribute macros for the netpoll runtime.
//!
//! `#[netpoll::main]` and `#[netpoll::test]` arrive with the scheduler;
//! this crate is part of the workspace from the start so the layout does
//! not change under its users.
