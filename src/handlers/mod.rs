//! Route handlers, one module per resource. Each takes a [`crate::app::Ctx`] and returns an
//! [`crate::http::ApiResponse`] or an [`crate::AppError`].

pub mod admin;
pub mod auth;
pub mod health;
pub mod testing;
