//! Form errors as pages show them (the GOV.UK pattern): a summary at the top
//! linking to each field, and each message beside its field, tied to it by
//! `aria-describedby`. The messages are the domain's own errors.

use crate::error::AppError;

/// One field's problem.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// The field's `id` (the summary links to `#id`).
    pub field: String,
    pub message: String,
}

/// The problems of one submitted form.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub fields: Vec<FieldError>,
    /// A problem with the form as a whole (no field to blame).
    pub general: Option<String>,
}

impl FormErrors {
    /// No problem.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether there is any problem.
    pub fn any(&self) -> bool {
        !self.fields.is_empty() || self.general.is_some()
    }

    /// The message for `field`, or empty.
    pub fn message(&self, field: &str) -> &str {
        self.fields
            .iter()
            .find(|e| e.field == field)
            .map_or("", |e| e.message.as_str())
    }

    /// Whether `field` has a problem.
    pub fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|e| e.field == field)
    }

    /// A problem with one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            fields: vec![FieldError {
                field: field.to_owned(),
                message: message.into(),
            }],
            general: None,
        }
    }

    /// The form's view of a domain error: the field its `param` names (as
    /// `field_of` maps API parameters to field ids), else the whole form.
    pub fn from_error(error: &AppError, field_of: impl Fn(&str) -> Option<&'static str>) -> Self {
        let message = sentence(&error.to_string());
        match error.param().and_then(field_of) {
            Some(field) => Self::field(field, message),
            None => Self {
                fields: Vec::new(),
                general: Some(message),
            },
        }
    }
}

/// A domain message as a sentence: capitalised, ending with a full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_land_on_the_field_their_parameter_names() {
        let error = AppError::unprocessable(
            "invalid_value",
            "shipping.city is required",
            Some("shipping.city".into()),
        );
        let errors =
            FormErrors::from_error(&error, |param| (param == "shipping.city").then_some("city"));
        assert_eq!(errors.message("city"), "Shipping.city is required.");
        assert!(errors.general.is_none());
        let general = FormErrors::from_error(&AppError::Forbidden, |_| None);
        assert!(general.fields.is_empty());
        assert!(general.any());
    }
}
