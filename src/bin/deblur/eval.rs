//! `deblur eval`: quality on pairs of blurry and sharp images or frames.

use clap::Args;
use deblur::Result;

#[derive(Args)]
pub struct EvalArgs {}

pub fn run(_args: &EvalArgs) -> Result<()> {
    Err(deblur::Error::InvalidConfig {
        name: "eval",
        value: "not yet implemented".into(),
        expected: "a later build".into(),
    })
}
