//! The email templates (askama, files under `src/notify/templates/emails/`,
//! compiled into the binary and checked against their data at build time) and
//! their rendering: a subject, a text part and an HTML part each.
//!
//! Each file has a struct borrowing the typed message it shows, so a template
//! naming a field its message lacks does not build. Escaping follows the
//! file's extension (`src/web/askama.toml`, askama's defaults): HTML parts
//! escape every value, so a shop name or a product title cannot add markup;
//! `.txt` parts (text and subject) are plain text, not escaped. Subjects are
//! cleaned of control characters, so no value can end the header and start
//! another.
//!
//! The templates keep their whitespace as written (`whitespace = "preserve"`):
//! the pages' `minimize` would fold the text parts' blank lines and indents.

use askama::Template;

use super::messages::{
    Message, OrderConfirmation, PayoutNotice, RefundIssued, SellerNewOrder, ShopNotice,
    SignInAttempts,
};

/// Longest subject, in characters (RFC 5322 recommends lines under 78; the
/// encoder folds longer ones, this keeps them readable).
pub const SUBJECT_CHARS_MAX: usize = 150;

/// The template files and the structs that render them: each field borrows
/// its data (`Name = "emails/…" { field: Type, … };`).
macro_rules! email_templates {
    ($($name:ident = $path:tt { $($field:ident: $ty:ty),+ $(,)? };)+) => {$(
        #[derive(Template)]
        #[template(path = $path, config = "src/web/askama.toml", whitespace = "preserve")]
        struct $name<'a> {
            $($field: &'a $ty),+
        }
    )+};
}

email_templates! {
    OrderConfirmationSubject = "emails/order_confirmation.subject.txt" { order: OrderConfirmation };
    OrderConfirmationText = "emails/order_confirmation.txt" { order: OrderConfirmation };
    OrderConfirmationHtml = "emails/order_confirmation.html" { order: OrderConfirmation };

    SellerNewOrderSubject = "emails/seller_new_order.subject.txt" { order: SellerNewOrder };
    SellerNewOrderText = "emails/seller_new_order.txt" { order: SellerNewOrder };
    SellerNewOrderHtml = "emails/seller_new_order.html" { order: SellerNewOrder };

    RefundIssuedSubject = "emails/refund_issued.subject.txt" { refund: RefundIssued };
    RefundIssuedText = "emails/refund_issued.txt" { refund: RefundIssued };
    RefundIssuedHtml = "emails/refund_issued.html" { refund: RefundIssued };

    PayoutPaidSubject = "emails/payout_paid.subject.txt" { payout: PayoutNotice };
    PayoutPaidText = "emails/payout_paid.txt" { payout: PayoutNotice };
    PayoutPaidHtml = "emails/payout_paid.html" { payout: PayoutNotice };

    PayoutFailedSubject = "emails/payout_failed.subject.txt" { payout: PayoutNotice };
    PayoutFailedText = "emails/payout_failed.txt" { payout: PayoutNotice };
    PayoutFailedHtml = "emails/payout_failed.html" { payout: PayoutNotice };

    OnboardingIncompleteSubject = "emails/onboarding_incomplete.subject.txt" { shop: ShopNotice };
    OnboardingIncompleteText = "emails/onboarding_incomplete.txt" { shop: ShopNotice, onboarding_url: str };
    OnboardingIncompleteHtml = "emails/onboarding_incomplete.html" { shop: ShopNotice, onboarding_url: str };

    AccountRestrictedSubject = "emails/account_restricted.subject.txt" { shop: ShopNotice };
    AccountRestrictedText = "emails/account_restricted.txt" { shop: ShopNotice, onboarding_url: str };
    AccountRestrictedHtml = "emails/account_restricted.html" { shop: ShopNotice, onboarding_url: str };

    SignInAttemptsSubject = "emails/sign_in_attempts.subject.txt" { attempts: SignInAttempts };
    SignInAttemptsText = "emails/sign_in_attempts.txt" { attempts: SignInAttempts };
    SignInAttemptsHtml = "emails/sign_in_attempts.html" { attempts: SignInAttempts };
}

/// The subject line: rendered, every control character (CR and LF above all)
/// turned into a space, runs of spaces collapsed, capped in length.
///
/// # Errors
/// A value failed to format (does not happen with the messages' strings).
pub fn subject(message: &Message) -> askama::Result<String> {
    let rendered = match message {
        Message::OrderConfirmation(order) => OrderConfirmationSubject { order }.render(),
        Message::SellerNewOrder(order) => SellerNewOrderSubject { order }.render(),
        Message::RefundIssued(refund) => RefundIssuedSubject { refund }.render(),
        Message::PayoutPaid(payout) => PayoutPaidSubject { payout }.render(),
        Message::PayoutFailed(payout) => PayoutFailedSubject { payout }.render(),
        Message::OnboardingIncomplete(shop) => OnboardingIncompleteSubject { shop }.render(),
        Message::AccountRestricted(shop) => AccountRestrictedSubject { shop }.render(),
        Message::SignInAttempts(attempts) => SignInAttemptsSubject { attempts }.render(),
    }?;
    let cleaned: String = rendered
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    Ok(words.join(" ").chars().take(SUBJECT_CHARS_MAX).collect())
}

/// The text and HTML parts. `onboarding_url` is the fresh link the emails
/// that need one carry (see [`Message::onboarding_account`]); the others
/// ignore it.
///
/// # Errors
/// The message needs an onboarding link and has none; a value failed to
/// format (does not happen with the messages' strings).
pub fn bodies(message: &Message, onboarding_url: Option<&str>) -> anyhow::Result<(String, String)> {
    let link = || {
        onboarding_url.ok_or_else(|| {
            anyhow::anyhow!("the {} email needs an onboarding link", message.template())
        })
    };
    let parts = match message {
        Message::OrderConfirmation(order) => both(
            &OrderConfirmationText { order },
            &OrderConfirmationHtml { order },
        ),
        Message::SellerNewOrder(order) => {
            both(&SellerNewOrderText { order }, &SellerNewOrderHtml { order })
        }
        Message::RefundIssued(refund) => {
            both(&RefundIssuedText { refund }, &RefundIssuedHtml { refund })
        }
        Message::PayoutPaid(payout) => both(&PayoutPaidText { payout }, &PayoutPaidHtml { payout }),
        Message::PayoutFailed(payout) => {
            both(&PayoutFailedText { payout }, &PayoutFailedHtml { payout })
        }
        Message::OnboardingIncomplete(shop) => {
            let onboarding_url = link()?;
            both(
                &OnboardingIncompleteText {
                    shop,
                    onboarding_url,
                },
                &OnboardingIncompleteHtml {
                    shop,
                    onboarding_url,
                },
            )
        }
        Message::AccountRestricted(shop) => {
            let onboarding_url = link()?;
            both(
                &AccountRestrictedText {
                    shop,
                    onboarding_url,
                },
                &AccountRestrictedHtml {
                    shop,
                    onboarding_url,
                },
            )
        }
        Message::SignInAttempts(attempts) => both(
            &SignInAttemptsText { attempts },
            &SignInAttemptsHtml { attempts },
        ),
    };
    Ok(parts?)
}

fn both(text: &impl Template, html: &impl Template) -> askama::Result<(String, String)> {
    Ok((text.render()?, html.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::messages::{LineItem, ShopLines};

    fn payout(shop_name: &str) -> PayoutNotice {
        PayoutNotice {
            shop_name: shop_name.into(),
            payout_id: "po_1".into(),
            amount: "1.00 USD".into(),
            arrival_date: "2026-12-02".into(),
            failure_code: None,
            failure_message: None,
            action: None,
        }
    }

    fn shop_notice() -> ShopNotice {
        ShopNotice {
            shop_id: "shop_1".into(),
            shop_name: "Acme".into(),
            account_id: "acct_1".into(),
            requirements: vec!["external_account".into()],
            disabled_reason: Some("requirements.past_due".into()),
        }
    }

    fn line() -> LineItem {
        LineItem {
            title: "Vase".into(),
            sku: "V-1".into(),
            quantity: 2,
            unit_price: "1.50 USD".into(),
            amount: "3.00 USD".into(),
        }
    }

    fn seller_new_order(shop_name: &str) -> SellerNewOrder {
        SellerNewOrder {
            order_id: "ord_1".into(),
            shop_name: shop_name.into(),
            lines: vec![line()],
            subtotal: "3.00 USD".into(),
            platform_fee: "0.30 USD".into(),
            seller_amount: "2.70 USD".into(),
            ship_to: vec!["Ann".into(), "1 Road".into()],
        }
    }

    /// One message per template.
    fn every_message() -> Vec<Message> {
        vec![
            Message::OrderConfirmation(OrderConfirmation {
                order_id: "ord_1".into(),
                shops: vec![ShopLines {
                    shop_name: "Acme".into(),
                    lines: vec![line()],
                    subtotal: "3.00 USD".into(),
                }],
                total: "3.00 USD".into(),
                ship_to: vec!["Ann".into()],
            }),
            Message::SellerNewOrder(seller_new_order("Acme")),
            Message::RefundIssued(RefundIssued {
                order_id: "ord_1".into(),
                refund_id: "re_1".into(),
                amount: "1.00 USD".into(),
                refunded_total: "1.00 USD".into(),
                order_total: "3.00 USD".into(),
            }),
            Message::PayoutPaid(payout("Acme")),
            Message::PayoutFailed(PayoutNotice {
                failure_code: Some("account_closed".into()),
                action: Some("update the bank account".into()),
                ..payout("Acme")
            }),
            Message::OnboardingIncomplete(shop_notice()),
            Message::AccountRestricted(shop_notice()),
            Message::SignInAttempts(SignInAttempts {
                failures: 5,
                window_minutes: 15,
                last_address: "203.0.113.9".into(),
                has_second_factor: true,
            }),
        ]
    }

    #[test]
    fn every_template_renders() {
        for message in every_message() {
            let name = message.template();
            let subject = subject(&message).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!subject.is_empty(), "{name}");
            let (text, html) = bodies(&message, Some("https://connect.example/setup"))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!text.is_empty() && !text.contains("{{"), "{name}: {text}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{name}: {html}");
            assert!(html.ends_with("</html>"), "{name}: {html}");
        }
    }

    #[test]
    fn a_subject_cannot_carry_a_header() {
        let message =
            Message::SellerNewOrder(seller_new_order("Evil\r\nBcc: victim@example.com\u{0}"));
        let subject = subject(&message).unwrap();
        assert!(!subject.contains(['\r', '\n', '\u{0}']), "{subject:?}");
        assert!(
            subject.contains("Evil Bcc: victim@example.com"),
            "{subject:?}"
        );
    }

    #[test]
    fn a_subject_is_capped() {
        let message = Message::PayoutPaid(payout(&"x".repeat(300)));
        assert_eq!(
            subject(&message).unwrap().chars().count(),
            SUBJECT_CHARS_MAX
        );
    }

    #[test]
    fn html_parts_escape_values() {
        let message = Message::PayoutPaid(payout("<script>alert(1)</script>"));
        let (text, html) = bodies(&message, None).unwrap();
        assert!(text.contains("<script>"), "text parts are plain text");
        assert!(
            !html.contains("<script>") && !html.contains("</script>"),
            "{html}"
        );
        assert!(
            html.contains("script") && html.contains("alert(1)"),
            "{html}"
        );
        let subject = subject(&message).unwrap();
        assert!(subject.starts_with("<script>"), "subjects are plain text");
    }

    #[test]
    fn text_parts_keep_their_layout() {
        let message = Message::SellerNewOrder(seller_new_order("Tom's & <Co>"));
        let (text, _) = bodies(&message, None).unwrap();
        assert_eq!(
            text,
            "Tom's & <Co> has a new paid order: ord_1.\n\
             \n\
             Your lines:\n  \
             2 x Vase (V-1) at 1.50 USD = 3.00 USD\n\
             \n\
             Subtotal:      3.00 USD\n\
             Platform fee:  0.30 USD\n\
             You are owed:  2.70 USD\n\
             \n\
             Ship to:\n  \
             Ann\n  \
             1 Road\n\
             \n\
             Your share is transferred to your connected account and paid out on your payout schedule."
        );
    }

    #[test]
    fn empty_optional_values_are_left_out() {
        let message = Message::PayoutFailed(PayoutNotice {
            failure_code: Some(String::new()),
            failure_message: None,
            action: Some("retry".into()),
            ..payout("Acme")
        });
        let (text, html) = bodies(&message, None).unwrap();
        assert!(text.contains("account failed.\n\nThe money"), "{text}");
        assert!(
            !html.contains("<code>") && !html.contains("The bank said"),
            "{html}"
        );
        let notice = ShopNotice {
            requirements: vec![],
            disabled_reason: None,
            ..shop_notice()
        };
        let (text, html) = bodies(&Message::AccountRestricted(notice), Some("https://x")).unwrap();
        assert!(
            !text.contains("needs:") && !html.contains("<ul>"),
            "{text}{html}"
        );
        assert!(text.contains("Acme's account: until"), "{text}");
    }

    #[test]
    fn an_onboarding_email_without_its_link_is_an_error() {
        let message = Message::OnboardingIncomplete(shop_notice());
        assert!(bodies(&message, None).is_err());
        let (text, html) = bodies(&message, Some("https://connect.example/s?a=1&b=2")).unwrap();
        assert!(
            text.ends_with("\nhttps://connect.example/s?a=1&b=2"),
            "{text}"
        );
        assert!(
            html.contains("href=\"https://connect.example/s?a=1&"),
            "{html}"
        );
        assert!(
            !html.contains("a=1&b=2"),
            "the link is escaped in HTML: {html}"
        );
    }
}
