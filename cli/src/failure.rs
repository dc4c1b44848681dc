//! How a command fails: a message on stderr and the contract's exit code.

use std::process::ExitCode;

use offpeak_shared::config::LoadError;

/// A command's failure. Bad input exits 2, anything else 1.
#[derive(Debug)]
pub enum Failure {
    /// The user's input is wrong (schedule errors, unreadable file, bad arguments).
    BadInput(String),
    /// Something failed at run time (AWS, a database, the terminal).
    #[allow(dead_code)] // used by the commands that talk to AWS
    Runtime(String),
}

impl Failure {
    pub fn report(self) -> ExitCode {
        match self {
            Failure::BadInput(msg) => {
                eprintln!("{msg}");
                ExitCode::from(2)
            }
            Failure::Runtime(msg) => {
                eprintln!("error: {msg}");
                ExitCode::from(1)
            }
        }
    }
}

impl From<LoadError> for Failure {
    fn from(err: LoadError) -> Self {
        Failure::BadInput(err.to_string())
    }
}
