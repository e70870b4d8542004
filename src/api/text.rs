//! Text fields of request bodies as types that carry both their schema and their check, so a
//! limit is written once: `Text<255>` is printable text of 1 to 255 characters (trimmed), a
//! [`Slug`] an identifier of 1 to 64 of `A-Za-z0-9._:-`. The OpenAPI document states the same
//! limits the values are parsed with (the schema comes from [`JsonSchema`] here).

use std::fmt;

use schemars::gen::SchemaGenerator;
use schemars::schema::Schema;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::contract::{SLUG_PATTERN, TEXT_PATTERN};

/// Printable text: surrounding white space trimmed, then 1 to `MAX` characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    /// Checks and trims `raw`; the error says what is wrong (the caller names the field).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let v = raw.trim();
        if v.is_empty() {
            return Err("must not be empty".into());
        }
        if v.chars().count() > MAX {
            return Err(format!("longer than {MAX} characters"));
        }
        if v.chars().any(char::is_control) {
            return Err("contains control characters".into());
        }
        Ok(Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl<const MAX: usize> JsonSchema for Text<MAX> {
    fn is_referenceable() -> bool {
        false
    }

    fn schema_name() -> String {
        format!("Text{MAX}")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX,
            "pattern": TEXT_PATTERN,
        }))
    }
}

/// An identifier chosen by a person or a system: 1 to 64 of `A-Za-z0-9._:-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 1 to 64 characters of A-Z a-z 0-9 . _ : -".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Slug {
    fn is_referenceable() -> bool {
        false
    }

    fn schema_name() -> String {
        "Slug".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema(json!({"type": "string", "pattern": SLUG_PATTERN}))
    }
}

fn schema(v: serde_json::Value) -> Schema {
    serde_json::from_value(v).unwrap_or(Schema::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_and_refuses_control_characters() {
        assert_eq!(Text::<10>::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert!(Text::<10>::parse(" ").is_err());
        assert!(Text::<10>::parse("a\u{0}b").is_err());
        assert!(Text::<10>::parse("abcdefghijk").is_err());
        assert!(Text::<10>::parse("abcdefghij").is_ok());
        let parsed: Text<5> = serde_json::from_str("\" ok \"").unwrap();
        assert_eq!(parsed.as_str(), "ok");
        assert!(serde_json::from_str::<Text<5>>("\"toolong\"").is_err());
    }

    #[test]
    fn slugs_are_identifier_characters() {
        assert!(Slug::parse("ward-3.north").is_ok());
        assert!(Slug::parse("ward 3").is_err());
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn the_schema_states_the_same_limits() {
        let mut gen = super::super::contract::settings().into_generator();
        let s = serde_json::to_value(Text::<255>::json_schema(&mut gen)).unwrap();
        assert_eq!(s["maxLength"], 255);
        assert_eq!(s["minLength"], 1);
        assert_eq!(s["pattern"], TEXT_PATTERN);
        let s = serde_json::to_value(Slug::json_schema(&mut gen)).unwrap();
        assert_eq!(s["pattern"], SLUG_PATTERN);
    }
}
