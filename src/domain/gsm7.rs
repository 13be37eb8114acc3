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

/// How a text goes over the air: GSM 7-bit, or UCS-2 when one character is outside GSM-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }
}

/// What a text costs: its encoding, and how many SMS it is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    pub count: usize,
}

/// The encoding and segment count of `text` (3GPP TS 23.038 and 23.040): one SMS holds 160 GSM
/// septets or 70 UCS-2 code units; split, each part gives 7 septets (6 octets) to its header
/// and holds 153 septets or 67 code units. A part never splits an extension character's two
/// septets or a surrogate pair, as phones and providers split them.
pub fn segments(text: &str) -> Segments {
    let (encoding, single, part, units): (_, usize, usize, Vec<usize>) = if is_gsm7(text) {
        let septets = text
            .chars()
            .map(|c| if EXTENSION.contains(c) { 2 } else { 1 })
            .collect();
        (Encoding::Gsm7, 160, 153, septets)
    } else {
        let code_units = text.chars().map(char::len_utf16).collect();
        (Encoding::Ucs2, 70, 67, code_units)
    };
    let total: usize = units.iter().sum();
    if total <= single {
        return Segments { encoding, count: 1 };
    }
    let (mut count, mut filled) = (1, 0);
    for unit in units {
        if filled + unit > part {
            count += 1;
            filled = 0;
        }
        filled += unit;
    }
    Segments { encoding, count }
}

/// Characters that look the same as a GSM-7 character (or three, for the ellipsis), as word
/// processors and templates put them in: typographic quotes and apostrophes, dashes and the minus
/// sign, the ellipsis, and spaces other than the plain one.
const LOOKALIKES: &[(char, &str)] = &[
    ('\u{2018}', "'"),   // ‘ left single quotation mark
    ('\u{2019}', "'"),   // ’ right single quotation mark, the typographic apostrophe
    ('\u{201A}', "'"),   // ‚ single low-9 quotation mark
    ('\u{201B}', "'"),   // ‛ single high-reversed-9 quotation mark
    ('\u{2032}', "'"),   // ′ prime
    ('\u{201C}', "\""),  // “ left double quotation mark
    ('\u{201D}', "\""),  // ” right double quotation mark
    ('\u{201E}', "\""),  // „ double low-9 quotation mark
    ('\u{201F}', "\""),  // ‟ double high-reversed-9 quotation mark
    ('\u{2033}', "\""),  // ″ double prime
    ('\u{2010}', "-"),   // ‐ hyphen
    ('\u{2011}', "-"),   // ‑ non-breaking hyphen
    ('\u{2012}', "-"),   // ‒ figure dash
    ('\u{2013}', "-"),   // – en dash
    ('\u{2014}', "-"),   // — em dash
    ('\u{2015}', "-"),   // ― horizontal bar
    ('\u{2212}', "-"),   // − minus sign
    ('\u{2026}', "..."), // … horizontal ellipsis
    ('\u{00A0}', " "),   // no-break space
    ('\u{2000}', " "),   // en quad
    ('\u{2001}', " "),   // em quad
    ('\u{2002}', " "),   // en space
    ('\u{2003}', " "),   // em space
    ('\u{2004}', " "),   // three-per-em space
    ('\u{2005}', " "),   // four-per-em space
    ('\u{2006}', " "),   // six-per-em space
    ('\u{2007}', " "),   // figure space
    ('\u{2008}', " "),   // punctuation space
    ('\u{2009}', " "),   // thin space
    ('\u{200A}', " "),   // hair space
    ('\u{202F}', " "),   // narrow no-break space
    ('\u{205F}', " "),   // medium mathematical space
    ('\u{3000}', " "),   // ideographic space
];

/// The look-alike characters, as docs/configuration.md lists them.
pub fn lookalikes() -> &'static [(char, &'static str)] {
    LOOKALIKES
}

/// `text` with its look-alikes written as the GSM-7 characters they look like, when that makes
/// the whole text GSM-7; `None` when the text has none, or has other characters outside GSM-7
/// (a Cyrillic or emoji text goes as UCS-2 either way, and keeps its typography).
pub fn gsm_safe(text: &str) -> Option<String> {
    let lookalike = |c: char| LOOKALIKES.iter().find(|(from, _)| *from == c);
    if !text.chars().any(|c| lookalike(c).is_some()) {
        return None;
    }
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match lookalike(c) {
            Some((_, to)) => safe.push_str(to),
            None => safe.push(c),
        }
    }
    is_gsm7(&safe).then_some(safe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> (Encoding, usize) {
        let s = segments(text);
        (s.encoding, s.count)
    }

    #[test]
    fn gsm7_takes_160_septets_in_one_sms_and_153_a_part() {
        assert_eq!(count(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(count(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(count(&"a".repeat(307)), (Encoding::Gsm7, 3));
        assert_eq!(count(""), (Encoding::Gsm7, 1));
        // An extension character takes two septets.
        assert_eq!(count(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(count(&format!("{}€", "a".repeat(159))), (Encoding::Gsm7, 2));
        // A part never splits the escape from its character: 152 septets and a `{` make two
        // parts of 152 and 2, and then the 153rd septet starts a third.
        let text = format!("{}{{{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(count(&text), (Encoding::Gsm7, 3));
        let text = format!("{}{{{}", "a".repeat(151), "a".repeat(152));
        assert_eq!(count(&text), (Encoding::Gsm7, 2));
    }

    #[test]
    fn ucs2_takes_70_code_units_in_one_sms_and_67_a_part() {
        assert_eq!(count(&"ж".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(count(&"ж".repeat(71)), (Encoding::Ucs2, 2));
        assert_eq!(count(&"ж".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(count(&"ж".repeat(135)), (Encoding::Ucs2, 3));
        // An emoji is a surrogate pair: two code units, never split between parts.
        assert_eq!(count(&"🔐".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(count(&format!("{}🔐", "ж".repeat(69))), (Encoding::Ucs2, 2));
        let text = format!("{}🔐{}", "ж".repeat(66), "ж".repeat(66));
        assert_eq!(count(&text), (Encoding::Ucs2, 3));
        // One curly quote makes the whole text UCS-2.
        assert_eq!(count("Don’t share 123456"), (Encoding::Ucs2, 1));
        assert_eq!(
            count(&format!("Don’t {}", "a".repeat(70))),
            (Encoding::Ucs2, 2)
        );
    }

    #[test]
    fn look_alikes_become_gsm7_only_when_that_makes_the_text_gsm7() {
        assert_eq!(
            gsm_safe("Don’t share it — code “123456”…\u{00A0}ok").as_deref(),
            Some("Don't share it - code \"123456\"... ok")
        );
        assert_eq!(gsm_safe("Your code is 123456"), None);
        // Cyrillic or an emoji stays UCS-2: the text keeps its typography.
        assert_eq!(gsm_safe("Ваш код — 123456"), None);
        assert_eq!(gsm_safe("code’s 123456 🔐"), None);
        for (from, to) in lookalikes() {
            assert!(!is_gsm7(&from.to_string()), "{from:?} is GSM-7 already");
            assert!(is_gsm7(to), "{to:?}");
        }
    }

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
