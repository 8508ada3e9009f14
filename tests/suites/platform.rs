//! Test binary `platform`: the API contract and its documents, the command line, configuration, the database layer, probes, overload, TLS and the module graph.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../api_contract.rs"]
mod api_contract;
#[path = "../api_errors.rs"]
mod api_errors;
#[path = "../api_shapes.rs"]
mod api_shapes;
#[path = "../cli.rs"]
mod cli;
#[path = "../config.rs"]
mod config;
#[path = "../database.rs"]
mod database;
#[path = "../docs_agree.rs"]
mod docs_agree;
#[path = "../events_docs.rs"]
mod events_docs;
#[path = "../fuzz_corpus.rs"]
mod fuzz_corpus;
#[path = "../http_overload.rs"]
mod http_overload;
#[path = "../module_graph.rs"]
mod module_graph;
#[path = "../probes.rs"]
mod probes;
#[path = "../readme_commands.rs"]
mod readme_commands;
#[path = "../readme_runnable.rs"]
mod readme_runnable;
#[path = "../tls.rs"]
mod tls;
