//! `vigia-node`: the daemon a member state runs, and its maintenance commands
//! (see [`vigia_node::cli`]).

fn main() {
    vigia_node::cli::main();
}
