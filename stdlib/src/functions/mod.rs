//! (in progress)
use crate::Function;
pub(crate) static ALL: &[&dyn Function] = &[];
