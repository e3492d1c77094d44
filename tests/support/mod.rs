//! Test support shared by the integration tests. Each test file uses part of it.
#![allow(dead_code)]

pub mod exercise;
pub mod fake_codepipeline;
pub mod fault_proxy;
pub mod fixtures;
pub mod http;
pub mod lambda;
pub mod records;
pub mod services;
pub mod stack;
pub mod world;
