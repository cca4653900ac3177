//! Thin binary: run, print the error once with its context, map it to the exit status.
//! 0 = clean, 1 = some input failed (the rest was analyzed), 2 = could not run.

fn main() {
    let code = match logwarden::run() {
        Ok(outcome) => outcome as i32,
        Err(err) if logwarden::is_broken_pipe(&err) => 0,
        Err(err) => {
            logwarden::stderr_line!("logwarden: error: {err:#}");
            logwarden::EXIT_FATAL
        }
    };
    std::process::exit(code);
}
