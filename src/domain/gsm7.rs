//! Whether a text fits the GSM 7-bit default alphabet (3GPP TS 23.038, 6.2.1), with its extension
//! table (6.2.1.1: form feed, `^ { } \ [ ~ ] |` and `€`, each sent as two septets after an
//! escape). A text that does not must go as UCS-2 (Vonage's `type=unicode`), or the phone shows
//! `?` in place of what it cannot encode, a passcode's digits next to it included.

/// The default alphabet, in table order (0x0A is LF, 0x0D is CR; 0x1B, the escape to the
/// extension table, is not a character of its own).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table's characters.
const EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Whether every character of `text` is in the default alphabet or its extension table.
pub fn is_gsm7(text: &str) -> bool {
    text.chars()
        .all(|c| BASIC.contains(c) || EXTENSION.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_has_its_128_characters_less_the_escape_and_the_extension_its_ten() {
        assert_eq!(BASIC.chars().count(), 127);
        assert_eq!(EXTENSION.chars().count(), 10);
    }

    #[test]
    fn passcodes_in_latin_scripts_are_gsm7_and_others_are_not() {
        for text in [
            "Your code is 123456",
            "Ihr Code: 123456. Gültig 5 Minuten!",
            "{braces} [brackets] ~tilde| \\ ^ € and a\nnew line",
            "Ç É Ø å ß ¿¡ §",
        ] {
            assert!(is_gsm7(text), "{text}");
        }
        for text in [
            "Código: 123456",    // ó is not in the table (ò is)
            "code — 123456",     // an em dash
            "Ваш код 123456",    // Cyrillic
            "您的验证码 123456", // CJK
            "code 123456 🔐",    // an emoji
            "`backtick`",        // not in either table
            "ç",                 // only the capital Ç is
            "tab\there",         // no tab
        ] {
            assert!(!is_gsm7(text), "{text}");
        }
        assert!(is_gsm7(""));
    }
}
