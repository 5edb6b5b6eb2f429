//! A parser of the `xychart-beta` subset that [`super::chart`] writes, for the tests: every
//! line of a block must be one of the grammar's, in order, with every string free of quotes,
//! every number a number, and the y-axis high enough for every bar. Mermaid's own grammar
//! (mermaid-js `xychart.jison`) accepts more; what is parsed here is what we promise to emit.

/// One parsed chart.
#[derive(Debug)]
pub struct Chart {
    pub title: String,
    pub x_axis: (String, f64, f64),
    pub y_axis: (String, f64, f64),
    pub bars: Vec<u64>,
}

/// Every ```` ```mermaid ```` block of `text`, parsed.
pub fn parse_all(text: &str) -> Result<Vec<Chart>, String> {
    let mut charts = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim_start().starts_with("```mermaid") {
            if line != "```mermaid" {
                return Err(format!(
                    "line {}: fence not at the line start: {line:?}",
                    n + 1
                ));
            }
            let mut body = Vec::new();
            loop {
                match lines.next() {
                    Some((_, "```")) => break,
                    Some((m, l)) => body.push((m + 1, l)),
                    None => return Err(format!("line {}: block never closed", n + 1)),
                }
            }
            charts.push(parse(&body)?);
        }
    }
    Ok(charts)
}

fn parse(body: &[(usize, &str)]) -> Result<Chart, String> {
    let expect = [
        "xychart-beta",
        "    title ",
        "    x-axis ",
        "    y-axis ",
        "    bar ",
    ];
    if body.len() != expect.len() {
        return Err(format!("a chart has {} lines: {body:?}", body.len()));
    }
    for ((n, line), prefix) in body.iter().zip(expect) {
        if !line.starts_with(prefix) || (prefix == "xychart-beta" && *line != prefix) {
            return Err(format!("line {n}: expected `{prefix}`: {line:?}"));
        }
    }
    let at = |i: usize, e: String| format!("line {}: {e}: {:?}", body[i].0, body[i].1);
    let title = string(&body[1].1["    title ".len()..]).map_err(|e| at(1, e))?;
    if !title.1.is_empty() {
        return Err(at(1, "text after the title".into()));
    }
    let x_axis = axis(&body[2].1["    x-axis ".len()..]).map_err(|e| at(2, e))?;
    let y_axis = axis(&body[3].1["    y-axis ".len()..]).map_err(|e| at(3, e))?;
    let list = &body[4].1["    bar ".len()..];
    let inner = list
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .ok_or_else(|| at(4, "a bar list is `[n, n, ...]`".into()))?;
    let bars = inner
        .split(", ")
        .map(|v| v.parse::<u64>().map_err(|e| at(4, format!("{v:?}: {e}"))))
        .collect::<Result<Vec<u64>, String>>()?;
    if bars.iter().any(|&b| b as f64 > y_axis.2) {
        return Err(at(3, "a bar is above the y-axis".into()));
    }
    if x_axis.1 != 0.0 || y_axis.1 != 0.0 || x_axis.2 <= 0.0 || y_axis.2 <= 0.0 {
        return Err(at(2, "axes run from 0 to a positive number".into()));
    }
    Ok(Chart {
        title: title.0,
        x_axis,
        y_axis,
        bars,
    })
}

/// `"text" rest`: the text (no quote, no control character, not empty) and the rest.
fn string(s: &str) -> Result<(String, &str), String> {
    let s = s
        .strip_prefix('"')
        .ok_or_else(|| "expected a quoted string".to_string())?;
    let end = s
        .find('"')
        .ok_or_else(|| "string never closed".to_string())?;
    let text = &s[..end];
    if text.is_empty() || text.chars().any(char::is_control) || text.contains('`') {
        return Err(format!("bad string {text:?}"));
    }
    Ok((text.to_string(), &s[end + 1..]))
}

/// `"title" min --> max`
fn axis(s: &str) -> Result<(String, f64, f64), String> {
    let (title, rest) = string(s)?;
    let parts: Vec<&str> = rest.split(' ').collect();
    match parts[..] {
        ["", min, "-->", max] => {
            let num = |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or(format!("{v:?} is not a number"))
            };
            Ok((title, num(min)?, num(max)?))
        }
        _ => Err("an axis is `\"title\" min --> max`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_refuses_what_mermaid_would() {
        let good = "```mermaid\nxychart-beta\n    title \"t\"\n    x-axis \"h\" 0 --> 3\n    y-axis \"r\" 0 --> 5\n    bar [1, 5, 0, 2]\n```\n";
        assert_eq!(parse_all(good).unwrap()[0].bars, [1, 5, 0, 2]);
        for bad in [
            good.replace("title \"t\"", "title \"t\"x\""),
            good.replace("0 --> 5", "0 --> 4"),
            good.replace("[1, 5", "[1,5"),
            good.replace("[1, 5", "[-1, 5"),
            good.replace("xychart-beta", "xychart"),
            good.replace("    bar", "bar"),
            good.replace("\n```\n", "\n"),
            good.replace("0 --> 3", "0 -> 3"),
        ] {
            assert!(parse_all(&bad).is_err(), "{bad}");
        }
    }
}
