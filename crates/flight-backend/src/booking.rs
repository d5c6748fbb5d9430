//! The booking rules, over in-memory state seeded at start: a daily schedule with per-date
//! inventory, quotes with an issue time and expiry, bookings priced from their quote,
//! idempotent writes, cancellation, and lounge passes at a fixed price.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value};
use time::{Date, OffsetDateTime};

/// How long a quote is honoured (a backstop; the runtime's binding `max_age` is shorter).
pub const QUOTE_VALIDITY_SECONDS: i64 = 30 * 60;
/// The price of a lounge pass.
pub const LOUNGE_PASS_PRICE: f64 = 45.0;
/// The seeded quote the upstream conformance samples present (`qt-test-1234`, AA100 on
/// 2026-03-10 at 420 USD). It never expires, so that the published samples keep working.
pub const SAMPLE_QUOTE_ID: &str = "qt-test-1234";

/// A scheduled (daily) flight.
#[derive(Clone, Debug, Serialize)]
pub struct Flight {
    pub flight_number: &'static str,
    pub origin: &'static str,
    pub destination: &'static str,
    pub departure_time: &'static str,
    pub arrival_time: &'static str,
    pub price: f64,
    pub currency: &'static str,
    pub capacity: u32,
}

/// The schedule every backend starts with.
pub fn schedule() -> Vec<Flight> {
    let flight = |flight_number, origin, destination, departure_time, arrival_time, price| Flight {
        flight_number,
        origin,
        destination,
        departure_time,
        arrival_time,
        price,
        currency: "USD",
        capacity: 180,
    };
    vec![
        flight("AA100", "SEA", "SFO", "08:00", "10:10", 420.0),
        flight("UA205", "SEA", "SFO", "12:30", "14:45", 380.0),
        flight("AS330", "SEA", "SFO", "18:00", "20:05", 299.0),
        flight("DL310", "SEA", "LAX", "09:15", "12:00", 450.0),
        flight("AA101", "SFO", "SEA", "11:00", "13:05", 410.0),
        flight("B6900", "JFK", "SEA", "07:00", "10:20", 510.0),
    ]
}

/// The fewest quotes kept before expired ones are pruned.
const MIN_PRUNE_AT: usize = 4096;

/// A refusal, rendered as `{"error": {"code", "message"}}` with an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

/// A search answer, serialized as `{"flights": [...], "count": n}` (typed, so answering costs
/// no intermediate JSON tree).
#[derive(Clone, Debug, Serialize)]
pub struct Search {
    pub flights: Vec<FlightOffer>,
    pub count: usize,
}

/// One flight of a search answer, with its seats left on the date and a quote when any are.
#[derive(Clone, Debug, Serialize)]
pub struct FlightOffer {
    pub flight_number: &'static str,
    pub origin: &'static str,
    pub destination: &'static str,
    pub date: String,
    pub departure_time: &'static str,
    pub arrival_time: &'static str,
    pub price: f64,
    pub currency: &'static str,
    pub seats_available: u32,
    pub quote: Option<QuoteOffer>,
}

/// A quote as a search answers it.
#[derive(Clone, Debug, Serialize)]
pub struct QuoteOffer {
    pub id: String,
    pub flight_number: &'static str,
    pub date: String,
    pub price: f64,
    pub currency: &'static str,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Clone, Debug)]
struct Quote {
    id: String,
    flight_number: String,
    date: Date,
    price: f64,
    currency: String,
    issued_at: i64,
    expires_at: Option<i64>,
}

#[derive(Clone, Debug)]
struct Booking {
    record: Value,
    flight_number: String,
    date: Date,
    passengers: u32,
    cancelled: bool,
}

/// The backend's whole state.
pub struct Store {
    flights: Vec<Flight>,
    seats_sold: HashMap<(String, Date), u32>,
    quotes: HashMap<String, Quote>,
    /// The newest quote per flight and date. Searches within the same second share it, so the
    /// quotes kept grow with time, not with traffic; expired ones are dropped as more are made.
    current_quotes: HashMap<(&'static str, Date), String>,
    /// Prune expired quotes when this many are kept.
    prune_at: usize,
    bookings: HashMap<String, Booking>,
    /// Idempotency key → (request fingerprint, response).
    idempotent: HashMap<String, (String, Value)>,
    next_booking: u64,
    next_pass: u64,
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, Refusal> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).map_err(|_| {
        refuse(
            422,
            "invalid_date",
            format!("date {text:?} is not YYYY-MM-DD"),
        )
    })
}

fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buffer = vec![0u8; bytes];
    // Quote ids only need to be unique; a failed RNG falls back to the clock.
    if ring::rand::SystemRandom::new().fill(&mut buffer).is_err() {
        let nanos = OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_le_bytes();
        buffer
            .iter_mut()
            .zip(nanos.iter().cycle())
            .for_each(|(b, n)| *b = *n);
    }
    signing::digest::hex(&buffer)
}

impl Store {
    /// The seeded backend: the schedule, empty inventory, and the sample quote.
    pub fn seeded() -> Store {
        let mut store = Store {
            flights: schedule(),
            seats_sold: HashMap::new(),
            quotes: HashMap::new(),
            current_quotes: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
            bookings: HashMap::new(),
            idempotent: HashMap::new(),
            next_booking: 1,
            next_pass: 1,
        };
        let sample = Quote {
            id: SAMPLE_QUOTE_ID.to_owned(),
            flight_number: "AA100".to_owned(),
            date: Date::from_calendar_date(2026, time::Month::March, 10).unwrap_or(Date::MIN),
            price: 420.0,
            currency: "USD".to_owned(),
            issued_at: 1_743_300_000,
            expires_at: None,
        };
        store.quotes.insert(sample.id.clone(), sample);
        store
    }

    fn flight(&self, number: &str) -> Option<&Flight> {
        self.flights.iter().find(|f| f.flight_number == number)
    }

    fn seats_left(&self, flight: &Flight, date: Date) -> u32 {
        flight.capacity.saturating_sub(
            self.seats_sold
                .get(&(flight.flight_number.to_owned(), date))
                .copied()
                .unwrap_or(0),
        )
    }

    fn issue_quote(&mut self, flight: &Flight, date: Date, now: i64) -> Quote {
        let key = (flight.flight_number, date);
        if let Some(current) = self
            .current_quotes
            .get(&key)
            .and_then(|id| self.quotes.get(id))
            .filter(|quote| quote.issued_at == now)
        {
            return current.clone();
        }
        if self.quotes.len() >= self.prune_at {
            self.quotes
                .retain(|_, quote| quote.expires_at.is_none_or(|expiry| expiry >= now));
            self.prune_at = (self.quotes.len() * 2).max(MIN_PRUNE_AT);
        }
        let quote = Quote {
            id: format!("qt-{}", random_hex(6)),
            flight_number: flight.flight_number.to_owned(),
            date,
            price: flight.price,
            currency: flight.currency.to_owned(),
            issued_at: now,
            expires_at: Some(now + QUOTE_VALIDITY_SECONDS),
        };
        self.quotes.insert(quote.id.clone(), quote.clone());
        self.current_quotes.insert(key, quote.id.clone());
        quote
    }

    /// Flights between two airports on a date, each with a fresh quote.
    pub fn search(
        &mut self,
        origin: &str,
        destination: &str,
        date: &str,
        now: i64,
    ) -> Result<Search, Refusal> {
        let valid_airport =
            |code: &str| code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
        if !valid_airport(origin) || !valid_airport(destination) {
            return Err(refuse(
                422,
                "invalid_airport",
                "origin and destination must be three-letter airport codes",
            ));
        }
        let date = parse_date(date)?;
        let matching: Vec<Flight> = self
            .flights
            .iter()
            .filter(|f| f.origin == origin && f.destination == destination)
            .cloned()
            .collect();
        let day = date.to_string();
        let mut flights = Vec::with_capacity(matching.len());
        for flight in matching {
            let seats_available = self.seats_left(&flight, date);
            let quote = (seats_available > 0).then(|| {
                let quote = self.issue_quote(&flight, date, now);
                QuoteOffer {
                    id: quote.id,
                    flight_number: flight.flight_number,
                    date: day.clone(),
                    price: quote.price,
                    currency: flight.currency,
                    issued_at: quote.issued_at,
                    expires_at: quote.expires_at,
                }
            });
            flights.push(FlightOffer {
                flight_number: flight.flight_number,
                origin: flight.origin,
                destination: flight.destination,
                date: day.clone(),
                departure_time: flight.departure_time,
                arrival_time: flight.arrival_time,
                price: flight.price,
                currency: flight.currency,
                seats_available,
                quote,
            });
        }
        Ok(Search {
            count: flights.len(),
            flights,
        })
    }

    /// Runs `write` once per idempotency key: a repeat with the same request gets the first
    /// answer, a repeat with a different request is refused.
    fn idempotent(
        &mut self,
        key: Option<&str>,
        fingerprint: &str,
        write: impl FnOnce(&mut Store) -> Result<Value, Refusal>,
    ) -> Result<(Value, bool), Refusal> {
        if let Some(key) = key {
            if let Some((seen, response)) = self.idempotent.get(key) {
                if seen != fingerprint {
                    return Err(refuse(
                        422,
                        "idempotency_key_reused",
                        "the idempotency key was used for a different request",
                    ));
                }
                return Ok((response.clone(), true));
            }
        }
        let response = write(self)?;
        if let Some(key) = key {
            self.idempotent
                .insert(key.to_owned(), (fingerprint.to_owned(), response.clone()));
        }
        Ok((response, false))
    }

    /// Books seats at the quoted price. The presented quote must be known, for this flight and
    /// date, unexpired, and at the price the backend quoted.
    pub fn book(
        &mut self,
        request: &Value,
        idempotency_key: Option<&str>,
        now: i64,
    ) -> Result<(Value, bool), Refusal> {
        let fingerprint = request.to_string();
        self.idempotent(idempotency_key, &fingerprint, |store| {
            store.book_once(request, now)
        })
    }

    fn book_once(&mut self, request: &Value, now: i64) -> Result<Value, Refusal> {
        let text = |key: &str| request.get(key).and_then(Value::as_str);
        let number = text("flight_number")
            .ok_or_else(|| refuse(422, "invalid_request", "flight_number is required"))?;
        let date = parse_date(
            text("date").ok_or_else(|| refuse(422, "invalid_request", "date is required"))?,
        )?;
        let passengers = request
            .get("passengers")
            .map_or(Some(1), Value::as_u64)
            .unwrap_or(0);
        if !(1..=9).contains(&passengers) {
            return Err(refuse(
                422,
                "invalid_passengers",
                "passengers must be between 1 and 9",
            ));
        }
        let passengers = passengers as u32;
        let flight = self.flight(number).cloned().ok_or_else(|| {
            refuse(
                404,
                "unknown_flight",
                format!("flight {number} does not exist"),
            )
        })?;
        let presented = request.get("quote_id");
        let quote_id = presented
            .and_then(|q| q.get("id").and_then(Value::as_str).or_else(|| q.as_str()))
            .ok_or_else(|| {
                refuse(
                    422,
                    "quote_required",
                    "a quote from a flight search is required",
                )
            })?;
        let quote = self.quotes.get(quote_id).cloned().ok_or_else(|| {
            refuse(
                409,
                "quote_unknown",
                "the quote was not issued by this service",
            )
        })?;
        if quote.flight_number != flight.flight_number || quote.date != date {
            return Err(refuse(
                409,
                "quote_mismatch",
                "the quote is for another flight or date",
            ));
        }
        if quote.expires_at.is_some_and(|expiry| expiry < now) {
            return Err(refuse(
                409,
                "quote_expired",
                "the quote has expired; search again",
            ));
        }
        if let Some(price) = presented
            .and_then(|q| q.get("price"))
            .and_then(Value::as_f64)
        {
            if (price - quote.price).abs() > 0.005 {
                return Err(refuse(
                    409,
                    "price_mismatch",
                    "the presented price is not the quoted price",
                ));
            }
        }
        if self.seats_left(&flight, date) < passengers {
            return Err(refuse(
                409,
                "sold_out",
                format!("flight {number} on {date} has too few seats left"),
            ));
        }
        *self
            .seats_sold
            .entry((flight.flight_number.to_owned(), date))
            .or_insert(0) += passengers;
        let booking_id = format!("BK-{:04}", self.next_booking);
        self.next_booking += 1;
        let record = json!({
            "booking_id": booking_id,
            "status": "confirmed",
            "flight_number": flight.flight_number,
            "origin": flight.origin,
            "destination": flight.destination,
            "date": date.to_string(),
            "departure_time": flight.departure_time,
            "passengers": passengers,
            "quote_id": quote.id,
            "total_cost": quote.price * f64::from(passengers),
            "currency": quote.currency,
            "booked_at": now,
        });
        self.bookings.insert(
            booking_id,
            Booking {
                record: record.clone(),
                flight_number: flight.flight_number.to_owned(),
                date,
                passengers,
                cancelled: false,
            },
        );
        Ok(record)
    }

    /// A booking by id.
    pub fn booking(&self, id: &str) -> Result<Value, Refusal> {
        self.bookings
            .get(id)
            .map(|b| b.record.clone())
            .ok_or_else(|| {
                refuse(
                    404,
                    "unknown_booking",
                    format!("booking {id} does not exist"),
                )
            })
    }

    /// Cancels a booking and returns its seats.
    pub fn cancel(&mut self, id: &str) -> Result<Value, Refusal> {
        let booking = self.bookings.get_mut(id).ok_or_else(|| {
            refuse(
                404,
                "unknown_booking",
                format!("booking {id} does not exist"),
            )
        })?;
        if booking.cancelled {
            return Err(refuse(
                409,
                "already_cancelled",
                format!("booking {id} is already cancelled"),
            ));
        }
        booking.cancelled = true;
        booking.record["status"] = json!("cancelled");
        let (flight, date, seats) = (
            booking.flight_number.clone(),
            booking.date,
            booking.passengers,
        );
        let refund = booking.record["total_cost"].clone();
        let record = booking.record.clone();
        if let Some(sold) = self.seats_sold.get_mut(&(flight, date)) {
            *sold = sold.saturating_sub(seats);
        }
        Ok(json!({"booking": record, "refund_amount": refund, "currency": "USD"}))
    }

    /// Sells a lounge pass at the fixed price.
    pub fn lounge_pass(
        &mut self,
        request: &Value,
        idempotency_key: Option<&str>,
        now: i64,
    ) -> Result<(Value, bool), Refusal> {
        let airport = request
            .get("airport")
            .and_then(Value::as_str)
            .unwrap_or("SEA")
            .to_owned();
        if airport.len() != 3 || !airport.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(refuse(
                422,
                "invalid_airport",
                "airport must be a three-letter airport code",
            ));
        }
        let fingerprint = request.to_string();
        self.idempotent(idempotency_key, &fingerprint, |store| {
            let pass_id = format!("LP-{:04}", store.next_pass);
            store.next_pass += 1;
            Ok(json!({"pass_id": pass_id, "airport": airport, "price": LOUNGE_PASS_PRICE, "currency": "USD", "issued_at": now}))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// SEA to SFO on 2026-03-10, as the HTTP answer's JSON.
    fn search(store: &mut Store, now: i64) -> Value {
        serde_json::to_value(store.search("SEA", "SFO", "2026-03-10", now).unwrap()).unwrap()
    }

    #[test]
    fn search_quotes_and_books_at_the_quoted_price() {
        let mut store = Store::seeded();
        let found = search(&mut store, NOW);
        assert_eq!(found["count"], 3);
        let quote = found["flights"][0]["quote"].clone();
        assert_eq!(quote["issued_at"], NOW);
        let request = json!({"flight_number": "AA100", "date": "2026-03-10", "passengers": 2, "quote_id": quote});
        let (booking, replayed) = store.book(&request, Some("k1"), NOW + 60).unwrap();
        assert!(!replayed);
        assert_eq!(booking["total_cost"], 840.0);
        let (again, replayed) = store.book(&request, Some("k1"), NOW + 61).unwrap();
        assert!(replayed);
        assert_eq!(again, booking);
        let other = json!({"flight_number": "AA100", "date": "2026-03-10", "passengers": 1, "quote_id": found["flights"][0]["quote"]});
        assert_eq!(
            store.book(&other, Some("k1"), NOW).unwrap_err().code,
            "idempotency_key_reused"
        );
        let seats = search(&mut store, NOW)["flights"][0]["seats_available"].clone();
        assert_eq!(seats, 178);
    }

    #[test]
    fn searches_in_the_same_second_share_quotes_and_expired_quotes_are_dropped() {
        let mut store = Store::seeded();
        let quote = |store: &mut Store, now| search(store, now)["flights"][0]["quote"].clone();
        let first = quote(&mut store, NOW);
        assert_eq!(quote(&mut store, NOW), first);
        let later = quote(&mut store, NOW + 1);
        assert_ne!(later["id"], first["id"]);
        for second in 0..MIN_PRUNE_AT as i64 {
            quote(&mut store, NOW + QUOTE_VALIDITY_SECONDS + 10 + second);
        }
        // The quotes of the first seconds expired and were pruned; the sample quote stays.
        assert!(!store.quotes.contains_key(first["id"].as_str().unwrap()));
        assert!(store.quotes.contains_key(SAMPLE_QUOTE_ID));
        assert!(store.quotes.len() < 3 * MIN_PRUNE_AT);
    }

    #[test]
    fn refusals() {
        let mut store = Store::seeded();
        let quote = search(&mut store, NOW)["flights"][0]["quote"].clone();
        let book = |store: &mut Store, request: Value, now| {
            store.book(&request, None, now).unwrap_err().code
        };
        assert_eq!(
            book(
                &mut store,
                json!({"flight_number": "AA100", "date": "2026-03-10", "quote_id": quote}),
                NOW + QUOTE_VALIDITY_SECONDS + 1
            ),
            "quote_expired"
        );
        let mut cheap = quote.clone();
        cheap["price"] = json!(1);
        assert_eq!(
            book(
                &mut store,
                json!({"flight_number": "AA100", "date": "2026-03-10", "quote_id": cheap}),
                NOW
            ),
            "price_mismatch"
        );
        assert_eq!(
            book(
                &mut store,
                json!({"flight_number": "UA205", "date": "2026-03-10", "quote_id": quote}),
                NOW
            ),
            "quote_mismatch"
        );
        assert_eq!(
            book(
                &mut store,
                json!({"flight_number": "ZZ1", "date": "2026-03-10", "quote_id": quote}),
                NOW
            ),
            "unknown_flight"
        );
        assert_eq!(
            book(
                &mut store,
                json!({"flight_number": "AA100", "date": "2026-03-10", "passengers": 10, "quote_id": quote}),
                NOW
            ),
            "invalid_passengers"
        );
        let big = json!({"flight_number": "AA100", "date": "2026-03-10", "passengers": 9, "quote_id": quote});
        for _ in 0..20 {
            store.book(&big, None, NOW).unwrap();
        }
        assert_eq!(book(&mut store, big, NOW), "sold_out");
        assert_eq!(
            store
                .search("SEA", "SFO", "10-03-2026", NOW)
                .unwrap_err()
                .code,
            "invalid_date"
        );
    }

    #[test]
    fn the_sample_quote_is_honoured_and_cancellation_returns_seats() {
        let mut store = Store::seeded();
        let sample = json!({"flight_number": "AA100", "date": "2026-03-10", "passengers": 1,
                            "quote_id": {"id": SAMPLE_QUOTE_ID, "price": 420, "issued_at": NOW}});
        let (booking, _) = store.book(&sample, None, NOW).unwrap();
        let id = booking["booking_id"].as_str().unwrap().to_owned();
        assert_eq!(store.booking(&id).unwrap()["status"], "confirmed");
        assert_eq!(store.cancel(&id).unwrap()["refund_amount"], 420.0);
        assert_eq!(store.cancel(&id).unwrap_err().code, "already_cancelled");
        let (pass, _) = store.lounge_pass(&json!({}), Some("p"), NOW).unwrap();
        assert_eq!(
            (pass["airport"].as_str(), pass["price"].as_f64()),
            (Some("SEA"), Some(LOUNGE_PASS_PRICE))
        );
    }
}
