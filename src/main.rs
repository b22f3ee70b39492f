#[allow(dead_code, unused_imports)]
mod rpc;

fn main() {}
