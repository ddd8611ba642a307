//! Attribute macros for the netpoll runtime: `#[netpoll::main]` and
//! `#[netpoll::test]`, the counterparts of tokio's
//! [`#[tokio::main]`](https://docs.rs/tokio/latest/tokio/attr.main.html) and
//! [`#[tokio::test]`](https://docs.rs/tokio/latest/tokio/attr.test.html).
//!
//! Use them through the `netpoll` crate, which re-exports them; the
//! generated code names `::netpoll::runtime`, so `netpoll` must be a
//! dependency of the crate that uses them.
//!
//! Both turn an `async fn` into an ordinary fn that builds a runtime and
//! blocks on the original body:
//!
//! ```ignore
//! #[netpoll::main]
//! async fn main() -> std::io::Result<()> {
//!     serve().await
//! }
//! ```
//!
//! becomes
//!
//! ```ignore
//! fn main() -> std::io::Result<()> {
//!     ::netpoll::runtime::Builder::new_multi_thread()
//!         .build()
//!         .expect("failed to build the netpoll runtime")
//!         .run_main(async move { serve().await })
//! }
//! ```
//!
//! The return type is kept: `run_main` returns the future's output, so a
//! body that ends in `Ok(())` and uses `?` works as in any `main`. Then it
//! shuts the runtime down without waiting for its threads
//! (`Runtime::shutdown_background`): every task is cancelled, but a
//! blocking job still running (a read of stdin) cannot keep the program
//! from exiting, as it would with tokio's `#[tokio::main]`. `#[netpoll::test]`
//! uses `block_on` and drops the runtime, which waits for its threads.
//!
//! # Arguments
//!
//! Comma-separated `key = value` pairs, in any order:
//!
//! | argument | values | default |
//! |---|---|---|
//! | `flavor` | `"multi_thread"`, `"current_thread"` | `"multi_thread"` for `main`, `"current_thread"` for `test` |
//! | `worker_threads` | an integer literal ≥ 1 | the runtime's own default |
//!
//! `worker_threads` needs the multi-threaded flavor: with `current_thread`
//! there is only the thread that calls `block_on`.
//!
//! ```ignore
//! #[netpoll::main(flavor = "current_thread")]
//! async fn main() { /* … */ }
//!
//! #[netpoll::main(worker_threads = 4)]
//! async fn main() { /* … */ }
//!
//! #[netpoll::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn accepts_many_clients() { /* … */ }
//! ```
//!
//! # What is rejected
//!
//! Each of these is a compile error pointing at the offending tokens, never
//! a panic of the macro: a fn that is not `async`; parameters, generic
//! parameters or a `where` clause on the fn; an unknown argument, an
//! argument given twice, a malformed value; `worker_threads` with the
//! `current_thread` flavor; and, for `#[netpoll::test]`, a fn that already
//! carries `#[test]`.
//!
//! # How it is built
//!
//! The crate has no dependencies (no syn, no quote): it reads and writes
//! `proc_macro` token trees directly. The logic is generic over a small
//! `Token` trait, implemented by `proc_macro::TokenTree` for the real
//! macros and by a plain token type in the unit tests, because
//! `proc_macro` types cannot be created outside a macro invocation. So
//! everything except the thin conversion layer runs under `cargo test`.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn main` on a netpoll runtime, like tokio's
/// [`#[tokio::main]`](https://docs.rs/tokio/latest/tokio/attr.main.html).
///
/// The fn loses its `async` and its body becomes
/// `::netpoll::runtime::Builder::new_multi_thread().build().expect(…).run_main(async move { body })`:
/// `block_on`, then a shutdown that does not wait for blocking jobs.
/// It works on any fn without parameters, not only `main`; the return type
/// is kept, so `-> std::io::Result<()>` works.
///
/// Arguments (see the [crate docs](crate)): `flavor = "multi_thread"` (the
/// default) or `flavor = "current_thread"`, and `worker_threads = N` with
/// the multi-threaded flavor.
///
/// ```ignore
/// #[netpoll::main(worker_threads = 4)]
/// async fn main() -> std::io::Result<()> {
///     let listener = netpoll::net::TcpListener::bind("127.0.0.1:8080").await?;
///     // …
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_stream(Macro::Main, args, item)
}

/// Runs an `async fn` test on its own netpoll runtime, like tokio's
/// [`#[tokio::test]`](https://docs.rs/tokio/latest/tokio/attr.test.html).
///
/// Like [`macro@main`], but the default flavor is `current_thread` (one
/// runtime per test, on the test's thread) and the fn gets
/// `#[::core::prelude::v1::test]`, so do not add `#[test]` yourself. Other
/// attributes (`#[ignore]`, `#[should_panic]`, doc comments, …) are kept.
///
/// ```ignore
/// #[netpoll::test]
/// async fn reads_what_was_written() -> std::io::Result<()> {
///     // …
///     Ok(())
/// }
///
/// #[netpoll::test(flavor = "multi_thread", worker_threads = 2)]
/// async fn survives_a_busy_worker() { /* … */ }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_stream(Macro::Test, args, item)
}

/// The proc-macro side: token streams in, token streams out; the work is
/// in `expand`.
fn expand_stream(mac: Macro, args: TokenStream, item: TokenStream) -> TokenStream {
    let args: Vec<TokenTree> = args.into_iter().collect();
    let item: Vec<TokenTree> = item.into_iter().collect();
    expand(mac, &args, item, Span::call_site())
        .into_iter()
        .collect()
}

// ---------------------------------------------------------------------------
// The token model the logic works on.

/// A group's delimiter, mirroring `proc_macro::Delimiter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delim {
    Paren,
    Brace,
    Bracket,
    /// An invisible group, as `macro_rules!` makes around a `$x:literal`.
    None,
}

/// What the logic needs to know about one token tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    Ident(String),
    Punct(char),
    /// The literal as written, quotes and suffix included.
    Literal(String),
    Group(Delim),
}

/// A token tree: `proc_macro::TokenTree` in the macros, a plain type in the
/// unit tests. The user's tokens are passed through as they are, never
/// rebuilt from their text, so they keep their exact spans and hygiene.
trait Token: Clone {
    type Span: Copy;

    fn view(&self) -> View;
    /// The trees inside a group; empty for the other kinds.
    fn children(&self) -> Vec<Self>;
    fn span(&self) -> Self::Span;

    fn new_ident(name: &str, span: Self::Span) -> Self;
    /// `joint`: glued to the next punctuation, as the first `:` of `::`.
    fn new_punct(ch: char, joint: bool, span: Self::Span) -> Self;
    fn new_str(value: &str, span: Self::Span) -> Self;
    fn new_usize(value: usize, span: Self::Span) -> Self;
    fn new_group(delim: Delim, inner: Vec<Self>, span: Self::Span) -> Self;
}

impl Token for TokenTree {
    type Span = Span;

    fn view(&self) -> View {
        match self {
            TokenTree::Ident(ident) => View::Ident(ident.to_string()),
            TokenTree::Punct(punct) => View::Punct(punct.as_char()),
            TokenTree::Literal(literal) => View::Literal(literal.to_string()),
            TokenTree::Group(group) => View::Group(match group.delimiter() {
                Delimiter::Parenthesis => Delim::Paren,
                Delimiter::Brace => Delim::Brace,
                Delimiter::Bracket => Delim::Bracket,
                Delimiter::None => Delim::None,
            }),
        }
    }

    fn children(&self) -> Vec<Self> {
        match self {
            TokenTree::Group(group) => group.stream().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn span(&self) -> Span {
        TokenTree::span(self)
    }

    fn new_ident(name: &str, span: Span) -> Self {
        Ident::new(name, span).into()
    }

    fn new_punct(ch: char, joint: bool, span: Span) -> Self {
        let spacing = if joint {
            Spacing::Joint
        } else {
            Spacing::Alone
        };
        let mut punct = Punct::new(ch, spacing);
        punct.set_span(span);
        punct.into()
    }

    fn new_str(value: &str, span: Span) -> Self {
        let mut literal = Literal::string(value);
        literal.set_span(span);
        literal.into()
    }

    fn new_usize(value: usize, span: Span) -> Self {
        let mut literal = Literal::usize_unsuffixed(value);
        literal.set_span(span);
        literal.into()
    }

    fn new_group(delim: Delim, inner: Vec<Self>, span: Span) -> Self {
        let delimiter = match delim {
            Delim::Paren => Delimiter::Parenthesis,
            Delim::Brace => Delimiter::Brace,
            Delim::Bracket => Delimiter::Bracket,
            Delim::None => Delimiter::None,
        };
        let mut group = Group::new(delimiter, inner.into_iter().collect());
        group.set_span(span);
        group.into()
    }
}

fn is_ident<T: Token>(token: &T, name: &str) -> bool {
    matches!(token.view(), View::Ident(ident) if ident == name)
}

fn is_punct<T: Token>(token: &T, ch: char) -> bool {
    token.view() == View::Punct(ch)
}

fn is_group<T: Token>(token: &T, delim: Delim) -> bool {
    token.view() == View::Group(delim)
}

/// The text of a literal, looking through the invisible group that
/// `macro_rules!` puts around a `$x:literal` it forwards.
fn literal_text<T: Token>(token: &T) -> Option<String> {
    match token.view() {
        View::Literal(text) => Some(text),
        View::Group(Delim::None) => match token.children().as_slice() {
            [only] => literal_text(only),
            _ => None,
        },
        _ => None,
    }
}

/// Appends generated tokens, all with one span (the attribute's, so that
/// errors inside generated code point at `#[netpoll::main]`).
struct Out<T: Token> {
    tokens: Vec<T>,
    span: T::Span,
}

impl<T: Token> Out<T> {
    fn new(span: T::Span) -> Self {
        Out {
            tokens: Vec::new(),
            span,
        }
    }

    fn push(&mut self, token: T) -> &mut Self {
        self.tokens.push(token);
        self
    }

    fn ident(&mut self, name: &str) -> &mut Self {
        self.push(T::new_ident(name, self.span))
    }

    /// An operator such as `::` or `!`: every char but the last is joint.
    fn punct(&mut self, op: &str) -> &mut Self {
        let mut chars = op.chars().peekable();
        while let Some(ch) = chars.next() {
            let joint = chars.peek().is_some();
            self.push(T::new_punct(ch, joint, self.span));
        }
        self
    }

    /// An absolute path, `::a::b::c`: absolute so that a user's own module
    /// named `netpoll` or `core` cannot capture it.
    fn path(&mut self, segments: &[&str]) -> &mut Self {
        for segment in segments {
            self.punct("::").ident(segment);
        }
        self
    }

    fn group(&mut self, delim: Delim, inner: Vec<T>) -> &mut Self {
        self.push(T::new_group(delim, inner, self.span))
    }

    /// `.name(args)`
    fn method(&mut self, name: &str, args: Vec<T>) -> &mut Self {
        self.punct(".").ident(name).group(Delim::Paren, args)
    }
}

// ---------------------------------------------------------------------------
// Errors.

/// A compile error covering the tokens from `start` to `end`.
#[derive(Debug)]
struct Error<S> {
    message: String,
    start: S,
    end: S,
}

impl<S: Copy> Error<S> {
    fn at(span: S, message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            start: span,
            end: span,
        }
    }

    /// An error covering `tokens` (or `fallback` when there are none).
    fn covering<T: Token<Span = S>>(tokens: &[T], fallback: S, message: impl Into<String>) -> Self {
        let span = |token: Option<&T>| token.map_or(fallback, Token::span);
        Error {
            message: message.into(),
            start: span(tokens.first()),
            end: span(tokens.last()),
        }
    }

    /// `::core::compile_error! { "message" }`. Stable `proc_macro` cannot
    /// join two spans, so, as syn does, the path carries the start span and
    /// the braces the end span: rustc then underlines everything between.
    fn into_tokens<T: Token<Span = S>>(self) -> Vec<T> {
        let message = T::new_str(&self.message, self.end);
        let mut out = Out::new(self.start);
        out.path(&["core", "compile_error"]).punct("!");
        out.push(T::new_group(Delim::Brace, vec![message], self.end));
        out.tokens
    }
}

// ---------------------------------------------------------------------------
// The attribute's arguments.

/// Which macro is expanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Macro {
    Main,
    Test,
}

impl Macro {
    /// The name users write, for error messages.
    fn name(self) -> &'static str {
        match self {
            Macro::Main => "#[netpoll::main]",
            Macro::Test => "#[netpoll::test]",
        }
    }

    /// As in tokio: a program gets every core, a test one thread so that
    /// many tests can run side by side.
    fn default_flavor(self) -> Flavor {
        match self {
            Macro::Main => Flavor::MultiThread,
            Macro::Test => Flavor::CurrentThread,
        }
    }
}

/// The runtime's scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    /// The value of `flavor = "…"`.
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "current_thread" => Some(Flavor::CurrentThread),
            "multi_thread" => Some(Flavor::MultiThread),
            _ => None,
        }
    }

    /// The `runtime::Builder` constructor for this flavor.
    fn constructor(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "new_current_thread",
            Flavor::MultiThread => "new_multi_thread",
        }
    }
}

/// What the arguments ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Config {
    flavor: Flavor,
    worker_threads: Option<usize>,
}

impl Config {
    fn default_for(mac: Macro) -> Self {
        Config {
            flavor: mac.default_flavor(),
            worker_threads: None,
        }
    }
}

const FLAVOR_USAGE: &str = r#"expected `flavor = "multi_thread"` or `flavor = "current_thread"`"#;
const WORKER_THREADS_USAGE: &str =
    "expected `worker_threads = N`, N an integer literal of at least 1";

/// Parses `key = value, …`; `call_site` spans errors about the whole list.
fn parse_args<T: Token>(
    mac: Macro,
    args: &[T],
    call_site: T::Span,
) -> Result<Config, Error<T::Span>> {
    let mut flavor = None;
    // The argument's tokens are kept for the flavor check below.
    let mut worker_threads: Option<(usize, &[T])> = None;
    for arg in split_commas(args)? {
        let key = match arg[0].view() {
            View::Ident(key) => key,
            _ => return Err(Error::covering(arg, call_site, unknown_argument(mac, arg))),
        };
        let repeated = || Error::covering(arg, call_site, format!("`{key}` is given twice"));
        match key.as_str() {
            "flavor" if flavor.is_some() => return Err(repeated()),
            "flavor" => flavor = Some(parse_flavor(arg, call_site)?),
            "worker_threads" if worker_threads.is_some() => return Err(repeated()),
            "worker_threads" => worker_threads = Some((parse_worker_threads(arg, call_site)?, arg)),
            _ => return Err(Error::covering(arg, call_site, unknown_argument(mac, arg))),
        }
    }
    let flavor = flavor.unwrap_or(mac.default_flavor());
    if let (Flavor::CurrentThread, Some((_, arg))) = (flavor, worker_threads) {
        return Err(Error::covering(
            arg,
            call_site,
            r#"`worker_threads` needs `flavor = "multi_thread"`: the current_thread flavor runs everything on the thread that calls `block_on`"#,
        ));
    }
    Ok(Config {
        flavor,
        worker_threads: worker_threads.map(|(n, _)| n),
    })
}

/// Splits the arguments at top-level commas (groups are single trees, so
/// commas inside them never show up). A trailing comma is allowed; an empty
/// argument before a comma is not.
fn split_commas<T: Token>(args: &[T]) -> Result<Vec<&[T]>, Error<T::Span>> {
    let mut arguments = Vec::new();
    let mut start = 0;
    for (i, token) in args.iter().enumerate() {
        if is_punct(token, ',') {
            if i == start {
                return Err(Error::at(
                    token.span(),
                    "expected an argument before this comma",
                ));
            }
            arguments.push(&args[start..i]);
            start = i + 1;
        }
    }
    if start < args.len() {
        arguments.push(&args[start..]);
    }
    Ok(arguments)
}

/// The message for an argument that is not `flavor` or `worker_threads`,
/// with a hint for the likely slip of naming the flavor alone.
fn unknown_argument<T: Token>(mac: Macro, arg: &[T]) -> String {
    let (View::Ident(text) | View::Literal(text)) = arg[0].view() else {
        return format!(
            "{} takes `flavor = \"…\"` and `worker_threads = N`",
            mac.name()
        );
    };
    let bare_flavor = text.trim_matches('"');
    if arg.len() == 1 && Flavor::from_name(bare_flavor).is_some() {
        return format!(r#"write `flavor = "{bare_flavor}"`"#);
    }
    format!(
        "unknown argument `{text}` for {}: expected `flavor` or `worker_threads`",
        mac.name()
    )
}

/// The value token of `key = value`, or an error spanning what is there
/// instead of a single value.
fn value_of<'a, T: Token>(
    arg: &'a [T],
    call_site: T::Span,
    usage: &str,
) -> Result<&'a T, Error<T::Span>> {
    match arg {
        [_, eq, value] if is_punct(eq, '=') => Ok(value),
        [_, eq, values @ ..] if is_punct(eq, '=') && !values.is_empty() => {
            Err(Error::covering(values, call_site, usage))
        }
        _ => Err(Error::covering(arg, call_site, usage)),
    }
}

/// `flavor = "multi_thread" | "current_thread"`
fn parse_flavor<T: Token>(arg: &[T], call_site: T::Span) -> Result<Flavor, Error<T::Span>> {
    let value = value_of(arg, call_site, FLAVOR_USAGE)?;
    literal_text(value)
        .as_deref()
        .and_then(|text| text.strip_prefix('"')?.strip_suffix('"'))
        .and_then(Flavor::from_name)
        .ok_or_else(|| Error::at(value.span(), FLAVOR_USAGE))
}

/// `worker_threads = N`
fn parse_worker_threads<T: Token>(arg: &[T], call_site: T::Span) -> Result<usize, Error<T::Span>> {
    let value = value_of(arg, call_site, WORKER_THREADS_USAGE)?;
    match literal_text(value).as_deref().and_then(parse_integer) {
        Some(0) => Err(Error::at(
            value.span(),
            "`worker_threads` must be at least 1",
        )),
        Some(n) => Ok(n),
        None => Err(Error::at(value.span(), WORKER_THREADS_USAGE)),
    }
}

/// A decimal integer literal, `4`, `1_000` or `4usize`; other suffixes are
/// refused because the builder takes a `usize`.
fn parse_integer(literal: &str) -> Option<usize> {
    let digits = literal.strip_suffix("usize").unwrap_or(literal);
    let decimal = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !decimal {
        return None;
    }
    digits.replace('_', "").parse().ok()
}

// ---------------------------------------------------------------------------
// The function.

/// An `async fn` cut into the parts the expansion reassembles.
#[derive(Debug)]
struct AsyncFn<T> {
    /// Outer attributes and doc comments, each a `#` and a `[…]` group.
    attrs: Vec<T>,
    /// Visibility, qualifiers without `async`, `fn`, name, `()`, return type.
    signature: Vec<T>,
    /// The `{ … }` body.
    body: T,
}

/// Checks that `item` is an `async fn` the macro can run and cuts it up.
fn parse_fn<T: Token>(
    mac: Macro,
    item: &[T],
    call_site: T::Span,
) -> Result<AsyncFn<T>, Error<T::Span>> {
    let (attrs, rest) = item.split_at(outer_attributes_len(item));
    if mac == Macro::Test {
        reject_test_attribute(attrs)?;
    }
    let Some(fn_pos) = rest.iter().position(|token| is_ident(token, "fn")) else {
        let message = format!("{} goes on an `async fn`", mac.name());
        return Err(Error::covering(item, call_site, message));
    };
    let (qualifiers, signature) = rest.split_at(fn_pos);
    let Some(async_pos) = qualifiers.iter().position(|token| is_ident(token, "async")) else {
        let message = "the `async` keyword is missing from the function declaration";
        return Err(Error::at(signature[0].span(), message));
    };
    let (body, signature) = check_signature(mac, signature, call_site)?;

    let mut kept = qualifiers.to_vec();
    kept.remove(async_pos);
    kept.extend_from_slice(signature);
    Ok(AsyncFn {
        attrs: attrs.to_vec(),
        signature: kept,
        body: body.clone(),
    })
}

/// How many tokens at the start of `item` are outer attributes.
fn outer_attributes_len<T: Token>(item: &[T]) -> usize {
    let mut len = 0;
    while let [hash, bracket, ..] = &item[len..] {
        if !is_punct(hash, '#') || !is_group(bracket, Delim::Bracket) {
            break;
        }
        len += 2;
    }
    len
}

/// `#[netpoll::test]` adds `#[test]`; a second one would register the test
/// twice.
fn reject_test_attribute<T: Token>(attrs: &[T]) -> Result<(), Error<T::Span>> {
    for attr in attrs.chunks(2) {
        let path: String = attr[1]
            .children()
            .iter()
            .map(|token| match token.view() {
                View::Ident(name) => name,
                View::Punct(':') => String::from(":"),
                _ => String::from(" "), // not a bare path: cannot be `#[test]`
            })
            .collect();
        if path == "test" || (path.ends_with("::test") && path.contains("prelude")) {
            return Err(Error::covering(
                attr,
                attr[0].span(),
                "remove this `#[test]`: `#[netpoll::test]` already makes the function a test",
            ));
        }
    }
    Ok(())
}

/// Checks `fn name(…) -> Ret { … }` (starting at `fn`): no generics, no
/// parameters, no `where`. Returns the body and the signature before it.
fn check_signature<T: Token>(
    mac: Macro,
    sig: &[T],
    call_site: T::Span,
) -> Result<(&T, &[T]), Error<T::Span>> {
    let fn_span = sig[0].span();
    let after_name = sig.get(2..).unwrap_or_default();
    if after_name.first().is_some_and(|token| is_punct(token, '<')) {
        let generics = &after_name[..generics_len(after_name)];
        let message = format!("{} does not support generic parameters", mac.name());
        return Err(Error::covering(generics, fn_span, message));
    }
    let Some((params, rest)) = after_name
        .split_first()
        .filter(|(params, _)| is_group(*params, Delim::Paren))
    else {
        return Err(Error::covering(
            sig,
            call_site,
            "expected the function's parameter list",
        ));
    };
    let inside = params.children();
    if !inside.is_empty() {
        let message = format!("{} functions cannot take arguments", mac.name());
        return Err(Error::covering(&inside, params.span(), message));
    }
    let Some((body, between)) = rest
        .split_last()
        .filter(|(body, _)| is_group(*body, Delim::Brace))
    else {
        return Err(Error::covering(
            rest,
            fn_span,
            "expected the function's body",
        ));
    };
    // `between` is the return type, possibly followed by a where clause.
    if let Some(where_pos) = between.iter().position(|token| is_ident(token, "where")) {
        let message = format!("{} does not support `where` clauses", mac.name());
        return Err(Error::covering(&between[where_pos..], fn_span, message));
    }
    Ok((body, &sig[..sig.len() - 1]))
}

/// The length of the `<…>` at the start of `tokens`, found by counting
/// angle brackets (`->` inside, as in `F: Fn() -> u8`, is not one); all of
/// `tokens` if they never close.
fn generics_len<T: Token>(tokens: &[T]) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        let arrow = i > 0 && is_punct(&tokens[i - 1], '-');
        if is_punct(token, '<') {
            depth += 1;
        } else if is_punct(token, '>') && !arrow {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    tokens.len()
}

// ---------------------------------------------------------------------------
// The expansion.

/// The whole expansion: the fn with a blocking body, or, when the fn
/// itself is unusable, the item untouched next to the errors, so that the
/// rest of the crate still finds it. Errors in the arguments alone still
/// expand the fn, with the defaults, so they cause no errors elsewhere.
fn expand<T: Token>(mac: Macro, args: &[T], item: Vec<T>, call_site: T::Span) -> Vec<T> {
    let config = parse_args(mac, args, call_site);
    let mut out = match parse_fn(mac, &item, call_site) {
        Ok(func) => {
            let config = config
                .as_ref()
                .map_or(Config::default_for(mac), |config| *config);
            expand_fn(mac, &config, func, call_site)
        }
        Err(error) => {
            let mut out = item;
            out.extend(error.into_tokens());
            out
        }
    };
    if let Err(error) = config {
        out.extend(error.into_tokens());
    }
    out
}

/// `[#[test]] attrs signature { <runtime>.block_on(async move body) }`
fn expand_fn<T: Token>(
    mac: Macro,
    config: &Config,
    func: AsyncFn<T>,
    call_site: T::Span,
) -> Vec<T> {
    let mut out = Out::new(call_site);
    if mac == Macro::Test {
        // First, as tokio does, so `#[test]` sees the attributes after it
        // (`#[should_panic]`, `#[ignore]`).
        let mut path = Out::new(call_site);
        path.path(&["core", "prelude", "v1", "test"]);
        out.punct("#").group(Delim::Bracket, path.tokens);
    }
    out.tokens.extend(func.attrs);
    out.tokens.extend(func.signature);
    // The new braces stand where the old ones stood: give them their span.
    let body_span = func.body.span();
    let block_on = block_on(mac, config, func.body, call_site);
    out.push(T::new_group(Delim::Brace, block_on, body_span));
    out.tokens
}

/// `::netpoll::runtime::Builder::new_…().[worker_threads(N).]build()
/// .expect("…").block_on(async move body)`, or `.run_main(…)` for `main`:
/// it shuts the runtime down in the background once the body returns, so
/// a blocking job still running (a read of stdin) cannot keep the program
/// from exiting. A test waits for its runtime's threads, as dropping does.
fn block_on<T: Token>(mac: Macro, config: &Config, body: T, call_site: T::Span) -> Vec<T> {
    let mut out = Out::new(call_site);
    out.path(&["netpoll", "runtime", "Builder", config.flavor.constructor()])
        .group(Delim::Paren, Vec::new());
    if let Some(n) = config.worker_threads {
        out.method("worker_threads", vec![T::new_usize(n, call_site)]);
    }
    out.method("build", Vec::new()).method(
        "expect",
        vec![T::new_str("failed to build the netpoll runtime", call_site)],
    );
    let mut future = Out::new(call_site);
    future.ident("async").ident("move").push(body);
    let run = match mac {
        Macro::Main => "run_main",
        Macro::Test => "block_on",
    };
    out.method(run, future.tokens);
    out.tokens
}

#[cfg(test)]
mod tests {
    // Not `use super::*`: that would import this crate's own `test`
    // attribute and shadow the built-in `#[test]`.
    use super::{expand, parse_args, parse_fn, Config, Delim, Error, Flavor, Macro, Token, View};

    /// A byte range of the source the tokens were lexed from.
    type Sp = (usize, usize);
    /// The attribute's span in these tests: an empty range.
    const CALL_SITE: Sp = (0, 0);

    /// A token tree without `proc_macro`, spanned by its byte range.
    #[derive(Clone, Debug)]
    enum Tt {
        Ident(String, Sp),
        Punct(char, bool, Sp),
        Literal(String, Sp),
        Group(Delim, Vec<Tt>, Sp),
    }

    impl Token for Tt {
        type Span = Sp;

        fn view(&self) -> View {
            match self {
                Tt::Ident(name, _) => View::Ident(name.clone()),
                Tt::Punct(ch, _, _) => View::Punct(*ch),
                Tt::Literal(text, _) => View::Literal(text.clone()),
                Tt::Group(delim, _, _) => View::Group(*delim),
            }
        }

        fn children(&self) -> Vec<Self> {
            match self {
                Tt::Group(_, inner, _) => inner.clone(),
                _ => Vec::new(),
            }
        }

        fn span(&self) -> Sp {
            match self {
                Tt::Ident(_, span)
                | Tt::Punct(_, _, span)
                | Tt::Literal(_, span)
                | Tt::Group(_, _, span) => *span,
            }
        }

        fn new_ident(name: &str, span: Sp) -> Self {
            Tt::Ident(name.to_string(), span)
        }

        fn new_punct(ch: char, joint: bool, span: Sp) -> Self {
            Tt::Punct(ch, joint, span)
        }

        fn new_str(value: &str, span: Sp) -> Self {
            Tt::Literal(format!("{value:?}"), span)
        }

        fn new_usize(value: usize, span: Sp) -> Self {
            Tt::Literal(value.to_string(), span)
        }

        fn new_group(delim: Delim, inner: Vec<Self>, span: Sp) -> Self {
            Tt::Group(delim, inner, span)
        }
    }

    /// Lexes the Rust the tests need (no comments, raw strings or floats)
    /// into the trees `proc_macro` would make.
    fn lex(src: &str) -> Vec<Tt> {
        let bytes = src.as_bytes();
        let is_punct = |b: u8| b"=<>!~+-*/%^&|@.,;:#$?'".contains(&b);
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let delims = [
            (b'(', b')', Delim::Paren),
            (b'[', b']', Delim::Bracket),
            (b'{', b'}', Delim::Brace),
        ];
        // The groups being read: delimiter, start, tokens of the level around.
        let mut open: Vec<(Delim, usize, Vec<Tt>)> = Vec::new();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let (start, b) = (i, bytes[i]);
            i += 1;
            if b.is_ascii_whitespace() {
                continue;
            }
            if let Some(&(_, _, delim)) = delims.iter().find(|d| d.0 == b) {
                open.push((delim, start, std::mem::take(&mut tokens)));
                continue;
            }
            let token = if let Some(&(_, _, delim)) = delims.iter().find(|d| d.1 == b) {
                let (opened, open_at, outer) = open.pop().expect("unbalanced delimiters");
                assert_eq!(opened, delim, "mismatched delimiters");
                Tt::Group(delim, std::mem::replace(&mut tokens, outer), (open_at, i))
            } else if is_word(b) {
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
                let text = src[start..i].to_string();
                match b.is_ascii_digit() {
                    true => Tt::Literal(text, (start, i)),
                    false => Tt::Ident(text, (start, i)),
                }
            } else if b == b'"' {
                while bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                Tt::Literal(src[start..i].to_string(), (start, i))
            } else if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 2; // a char literal, 'x'
                Tt::Literal(src[start..i].to_string(), (start, i))
            } else {
                // A lifetime's `'` is joint with its name, as in proc_macro.
                let joint = b == b'\'' || bytes.get(i).is_some_and(|&next| is_punct(next));
                Tt::Punct(char::from(b), joint, (start, i))
            };
            tokens.push(token);
        }
        assert!(open.is_empty(), "unclosed delimiter");
        tokens
    }

    /// Tokens as text: one space between trees, none after a joint punct.
    fn render(tokens: &[Tt]) -> String {
        let mut out = String::new();
        for token in tokens {
            match token {
                Tt::Ident(text, _) | Tt::Literal(text, _) => out += text,
                Tt::Punct(ch, joint, _) => {
                    out.push(*ch);
                    if *joint {
                        continue;
                    }
                }
                Tt::Group(delim, inner, _) => {
                    let (open, close) = match delim {
                        Delim::Paren => ("(", ")"),
                        Delim::Brace => ("{", "}"),
                        Delim::Bracket => ("[", "]"),
                        Delim::None => ("", ""),
                    };
                    out += &format!("{open}{}{close}", render(inner));
                }
            }
            out.push(' ');
        }
        out.trim_end().to_string()
    }

    /// `code` as `render` writes it, to compare expansions with.
    fn normalized(code: &str) -> String {
        render(&lex(code))
    }

    fn expanded(mac: Macro, args: &str, item: &str) -> String {
        render(&expand(mac, &lex(args), lex(item), CALL_SITE))
    }

    fn config(mac: Macro, args: &str) -> Config {
        parse_args(mac, &lex(args), CALL_SITE).expect("arguments should parse")
    }

    /// The source text an error covers ("" for the attribute itself).
    fn covered<'a>(src: &'a str, error: &Error<Sp>) -> &'a str {
        &src[error.start.0..error.end.1]
    }

    /// An error in the arguments: its message and the text it covers.
    fn args_error(mac: Macro, args: &str) -> (String, &str) {
        let error =
            parse_args(mac, &lex(args), CALL_SITE).expect_err("arguments should be refused");
        let text = covered(args, &error);
        (error.message, text)
    }

    /// An error in the function: its message and the text it covers.
    fn fn_error(mac: Macro, item: &str) -> (String, &str) {
        let error = parse_fn(mac, &lex(item), CALL_SITE).expect_err("function should be refused");
        let text = covered(item, &error);
        (error.message, text)
    }

    const MULTI: Config = Config {
        flavor: Flavor::MultiThread,
        worker_threads: None,
    };
    const CURRENT: Config = Config {
        flavor: Flavor::CurrentThread,
        worker_threads: None,
    };
    const FOUR_WORKERS: Config = Config {
        flavor: Flavor::MultiThread,
        worker_threads: Some(4),
    };

    #[test]
    fn defaults_follow_tokio() {
        assert_eq!(config(Macro::Main, ""), MULTI);
        assert_eq!(config(Macro::Test, ""), CURRENT);
    }

    #[test]
    fn flavors() {
        for mac in [Macro::Main, Macro::Test] {
            assert_eq!(config(mac, r#"flavor = "multi_thread""#), MULTI);
            assert_eq!(config(mac, r#"flavor = "current_thread""#), CURRENT);
        }
    }

    #[test]
    fn worker_threads() {
        assert_eq!(config(Macro::Main, "worker_threads = 4"), FOUR_WORKERS);
        assert_eq!(config(Macro::Main, "worker_threads = 4usize"), FOUR_WORKERS);
        assert_eq!(
            config(Macro::Main, "worker_threads = 1_0").worker_threads,
            Some(10)
        );
        assert_eq!(
            config(
                Macro::Main,
                r#"flavor = "multi_thread", worker_threads = 4,"#
            ),
            FOUR_WORKERS
        );
        // In any order, also where the default flavor is current_thread.
        assert_eq!(
            config(
                Macro::Test,
                r#"worker_threads = 4, flavor = "multi_thread""#
            ),
            FOUR_WORKERS
        );
    }

    #[test]
    fn literal_forwarded_by_macro_rules() {
        // `macro_rules!` wraps a forwarded `$n:literal` in an invisible group.
        let four = Tt::Group(Delim::None, vec![Tt::Literal("4".into(), (0, 1))], (0, 1));
        let mut args = lex("worker_threads =");
        args.push(four);
        assert_eq!(
            parse_args(Macro::Main, &args, CALL_SITE).unwrap(),
            FOUR_WORKERS
        );
    }

    #[test]
    fn unknown_arguments() {
        let unknown =
            "unknown argument `crate` for #[netpoll::main]: expected `flavor` or `worker_threads`";
        assert_eq!(
            args_error(Macro::Main, r#"crate = "n""#),
            (unknown.into(), r#"crate = "n""#)
        );
        let unknown =
            "unknown argument `foo` for #[netpoll::test]: expected `flavor` or `worker_threads`";
        assert_eq!(
            args_error(Macro::Test, "worker_threads = 2, foo"),
            (unknown.into(), "foo")
        );
        let hint = r#"write `flavor = "current_thread"`"#;
        assert_eq!(
            args_error(Macro::Main, "current_thread"),
            (hint.into(), "current_thread")
        );
        let hint = r#"write `flavor = "multi_thread"`"#;
        assert_eq!(
            args_error(Macro::Main, r#""multi_thread""#),
            (hint.into(), r#""multi_thread""#)
        );
        let usage = r#"#[netpoll::main] takes `flavor = "…"` and `worker_threads = N`"#;
        assert_eq!(args_error(Macro::Main, "(4)"), (usage.into(), "(4)"));
    }

    #[test]
    fn malformed_lists() {
        let message = "expected an argument before this comma".to_string();
        assert_eq!(
            args_error(Macro::Main, ", worker_threads = 4"),
            (message.clone(), ",")
        );
        assert_eq!(
            args_error(Macro::Main, "worker_threads = 4,, x"),
            (message, ",")
        );
        let twice = "`flavor` is given twice".to_string();
        let args = r#"flavor = "multi_thread", flavor = "current_thread""#;
        assert_eq!(
            args_error(Macro::Main, args),
            (twice, r#"flavor = "current_thread""#)
        );
        let twice = "`worker_threads` is given twice".to_string();
        let args = "worker_threads = 1, worker_threads = 2";
        assert_eq!(args_error(Macro::Main, args), (twice, "worker_threads = 2"));
    }

    #[test]
    fn bad_flavors() {
        let usage = super::FLAVOR_USAGE.to_string();
        for (args, covers) in [
            (r#"flavor = "single""#, r#""single""#),
            ("flavor = current_thread", "current_thread"),
            (r#"flavor = 'x'"#, "'x'"),
            ("flavor", "flavor"),
            ("flavor =", "flavor ="),
            (r#"flavor: "multi_thread""#, r#"flavor: "multi_thread""#),
            (r#"flavor = "multi_thread" x"#, r#""multi_thread" x"#),
        ] {
            assert_eq!(
                args_error(Macro::Main, args),
                (usage.clone(), covers),
                "{args}"
            );
        }
    }

    #[test]
    fn bad_worker_threads() {
        let usage = super::WORKER_THREADS_USAGE.to_string();
        for (args, covers) in [
            ("worker_threads = -1", "-1"),
            (r#"worker_threads = "4""#, r#""4""#),
            ("worker_threads = 4u8", "4u8"),
            ("worker_threads = 0x4", "0x4"),
            ("worker_threads = n", "n"),
            ("worker_threads = (4)", "(4)"),
            (
                "worker_threads = 99999999999999999999999",
                "99999999999999999999999",
            ),
            ("worker_threads", "worker_threads"),
        ] {
            assert_eq!(
                args_error(Macro::Main, args),
                (usage.clone(), covers),
                "{args}"
            );
        }
        let zero = "`worker_threads` must be at least 1".to_string();
        assert_eq!(args_error(Macro::Main, "worker_threads = 0"), (zero, "0"));
    }

    #[test]
    fn worker_threads_needs_multi_thread() {
        let message = r#"`worker_threads` needs `flavor = "multi_thread"`: the current_thread flavor runs everything on the thread that calls `block_on`"#;
        let args = r#"flavor = "current_thread", worker_threads = 2"#;
        assert_eq!(
            args_error(Macro::Main, args),
            (message.into(), "worker_threads = 2")
        );
        // The test macro's default flavor is current_thread.
        assert_eq!(
            args_error(Macro::Test, "worker_threads = 2"),
            (message.into(), "worker_threads = 2")
        );
    }

    #[test]
    fn main_expansion() {
        let item = "async fn main() { serve().await; }";
        let expected = r#"fn main() {
            ::netpoll::runtime::Builder::new_multi_thread()
                .build()
                .expect("failed to build the netpoll runtime")
                .run_main(async move { serve().await; })
        }"#;
        assert_eq!(expanded(Macro::Main, "", item), normalized(expected));
    }

    #[test]
    fn main_current_thread_keeps_visibility_attributes_and_return_type() {
        let item = r#"#[doc = "Serves."] #[allow(unused)]
            pub(crate) async fn run() -> std::io::Result<&'static str> { serve().await?; Ok("done") }"#;
        let expected = r#"#[doc = "Serves."] #[allow(unused)]
            pub(crate) fn run() -> std::io::Result<&'static str> {
                ::netpoll::runtime::Builder::new_current_thread()
                    .build()
                    .expect("failed to build the netpoll runtime")
                    .run_main(async move { serve().await?; Ok("done") })
            }"#;
        let args = r#"flavor = "current_thread""#;
        assert_eq!(expanded(Macro::Main, args, item), normalized(expected));
    }

    #[test]
    fn main_worker_threads() {
        let expected = r#"fn main() {
            ::netpoll::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .build()
                .expect("failed to build the netpoll runtime")
                .run_main(async move {})
        }"#;
        let item = "async fn main() {}";
        assert_eq!(
            expanded(Macro::Main, "worker_threads = 4", item),
            normalized(expected)
        );
        assert_eq!(
            expanded(Macro::Main, "worker_threads = 0_4usize", item),
            normalized(expected)
        );
    }

    #[test]
    fn test_expansion() {
        let item = r#"#[should_panic(expected = "boom")] async fn fails() { panic!("boom") }"#;
        let expected = r#"#[::core::prelude::v1::test] #[should_panic(expected = "boom")] fn fails() {
            ::netpoll::runtime::Builder::new_current_thread()
                .build()
                .expect("failed to build the netpoll runtime")
                .block_on(async move { panic!("boom") })
        }"#;
        assert_eq!(expanded(Macro::Test, "", item), normalized(expected));
    }

    #[test]
    fn test_multi_thread() {
        let item = "#[ignore] async fn busy() -> Result<(), String> { Ok(()) }";
        let expected = r#"#[::core::prelude::v1::test] #[ignore] fn busy() -> Result<(), String> {
            ::netpoll::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("failed to build the netpoll runtime")
                .block_on(async move { Ok(()) })
        }"#;
        let args = r#"flavor = "multi_thread", worker_threads = 2"#;
        assert_eq!(expanded(Macro::Test, args, item), normalized(expected));
    }

    #[test]
    fn refused_functions() {
        let missing_async =
            "the `async` keyword is missing from the function declaration".to_string();
        assert_eq!(
            fn_error(Macro::Main, "pub fn main() {}"),
            (missing_async, "fn")
        );
        let arguments = "#[netpoll::main] functions cannot take arguments".to_string();
        assert_eq!(
            fn_error(Macro::Main, "async fn main(n: u32, m: u8) {}"),
            (arguments, "n: u32, m: u8")
        );
        let arguments = "#[netpoll::test] functions cannot take arguments".to_string();
        assert_eq!(
            fn_error(Macro::Test, "async fn t(&self) {}"),
            (arguments, "&self")
        );
        let generics = "#[netpoll::main] does not support generic parameters".to_string();
        let item = "async fn main<F: Fn(u8) -> Vec<u8>, const N: usize>() {}";
        assert_eq!(
            fn_error(Macro::Main, item),
            (generics, "<F: Fn(u8) -> Vec<u8>, const N: usize>")
        );
        let clause = "#[netpoll::main] does not support `where` clauses".to_string();
        let item = "async fn main() -> u8 where u8: Copy { 0 }";
        assert_eq!(fn_error(Macro::Main, item), (clause, "where u8: Copy"));
        let not_fn = "#[netpoll::main] goes on an `async fn`".to_string();
        assert_eq!(fn_error(Macro::Main, "struct S;"), (not_fn, "struct S;"));
        let no_body = "expected the function's body".to_string();
        assert_eq!(fn_error(Macro::Main, "async fn main();"), (no_body, ";"));
    }

    #[test]
    fn test_refuses_a_second_test_attribute() {
        let message = "remove this `#[test]`: `#[netpoll::test]` already makes the function a test"
            .to_string();
        let item = "#[ignore] #[test] async fn t() {}";
        assert_eq!(fn_error(Macro::Test, item), (message.clone(), "#[test]"));
        let item = "#[::core::prelude::v1::test] async fn t() {}";
        assert_eq!(
            fn_error(Macro::Test, item),
            (message, "#[::core::prelude::v1::test]")
        );
        // Only the test macro cares; other paths ending in `test` are kept.
        assert!(parse_fn(Macro::Main, &lex("#[test] async fn t() {}"), CALL_SITE).is_ok());
        assert!(parse_fn(Macro::Test, &lex("#[my::test] async fn t() {}"), CALL_SITE).is_ok());
    }

    #[test]
    fn errors_become_compile_error_spanning_the_tokens() {
        let error = Error {
            message: "no".to_string(),
            start: (1, 2),
            end: (5, 6),
        };
        let tokens: Vec<Tt> = error.into_tokens();
        assert_eq!(
            render(&tokens),
            normalized(r#"::core::compile_error!{"no"}"#)
        );
        assert_eq!(tokens[0].span(), (1, 2), "the path starts the error");
        assert_eq!(tokens.last().unwrap().span(), (5, 6), "the braces end it");
    }

    #[test]
    fn bad_arguments_still_expand_the_function() {
        // With the defaults, so the only error is the one about the arguments.
        let expected = r#"fn main() {
            ::netpoll::runtime::Builder::new_multi_thread()
                .build()
                .expect("failed to build the netpoll runtime")
                .run_main(async move {})
        }
        ::core::compile_error!{"`worker_threads` must be at least 1"}"#;
        assert_eq!(
            expanded(Macro::Main, "worker_threads = 0", "async fn main() {}"),
            normalized(expected)
        );
    }

    #[test]
    fn a_refused_function_is_passed_through_with_the_errors() {
        let expected = r#"fn main() {}
            ::core::compile_error!{"the `async` keyword is missing from the function declaration"}
            ::core::compile_error!{"`flavor` is given twice"}"#;
        let args = r#"flavor = "multi_thread", flavor = "multi_thread""#;
        assert_eq!(
            expanded(Macro::Main, args, "fn main() {}"),
            normalized(expected)
        );
    }
}
