//! The `onebot-gateway` command.

fn main() {
    println!("onebot-gateway");
}
