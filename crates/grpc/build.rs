//! Generates the gRPC service and messages from `proto/messaging.proto` with protox, a
//! .proto compiler in Rust: building needs no `protoc` on the machine.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = protox::compile(["messaging.proto"], ["proto"])?;
    tonic_prost_build::configure().build_client(false).build_server(true).bytes(".apache.rocketmq.v2.Message.body").compile_fds(files)?;
    Ok(())
}
