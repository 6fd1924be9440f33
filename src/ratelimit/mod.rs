//! Rate limiting on Durable Objects: one object per `policy:key` holds an exact counter.

pub mod object;
