package main

import (
	"encoding/json"
	"strconv"
	"time"
)

// Contact is a CRM contact as a provider's API returns it: about 400 bytes of JSON.
type Contact struct {
	ID         string    `json:"id"`
	FirstName  string    `json:"first_name"`
	LastName   string    `json:"last_name"`
	Email      string    `json:"email"`
	Phone      string    `json:"phone"`
	Company    string    `json:"company"`
	Title      string    `json:"title"`
	Street     string    `json:"street"`
	City       string    `json:"city"`
	State      string    `json:"state"`
	PostalCode string    `json:"postal_code"`
	Country    string    `json:"country"`
	OwnerID    string    `json:"owner_id"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

var (
	firstNames = []string{"Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Charlotte", "James",
		"Ava", "William", "Mia", "Benjamin", "Isabella", "Lucas", "Evelyn", "Henry", "Harper", "Theodore"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"}
	companies = []string{"Acme Corporation", "Globex Industries", "Initech Software", "Umbrella Logistics", "Stark Manufacturing",
		"Wayne Enterprises", "Hooli Cloud Services", "Vandelay Imports", "Soylent Foods", "Tyrell Robotics"}
	titles = []string{"Account Executive", "VP of Engineering", "Chief Financial Officer", "Head of Procurement",
		"Senior Product Manager", "Director of Operations", "Marketing Coordinator", "IT Administrator"}
	streets = []string{"Market Street", "Mission Street", "Broadway", "Elm Avenue", "Oak Lane", "Maple Drive", "Pine Road", "Cedar Boulevard"}
	cities  = []struct{ city, state, country string }{
		{"San Francisco", "CA", "United States"}, {"Austin", "TX", "United States"}, {"New York", "NY", "United States"},
		{"Seattle", "WA", "United States"}, {"Toronto", "ON", "Canada"}, {"Chicago", "IL", "United States"},
	}
)

// mix is splitmix64: a bijection on uint64, so distinct inputs give distinct ids.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// contactID is a Salesforce-like 18-character id for record i: random-looking, unique per i.
func contactID(seed, i uint64) string {
	var b [18]byte
	copy(b[:], "003")
	x := mix(seed ^ mix(i))
	for k := 3; k < 14; k++ { // 11 base62 digits hold all of a uint64
		b[k] = base62[x%62]
		x /= 62
	}
	y := mix(i + 0x5bd1e995)
	for k := 14; k < 18; k++ {
		b[k] = base62[y%62]
		y /= 62
	}
	return string(b[:])
}

var epoch = time.Date(2021, 3, 14, 9, 26, 53, 0, time.UTC)

// makeContact fills c with record i at a version; a higher version changes the title and the
// modification time.
func makeContact(c *Contact, seed, i uint64, version int) {
	h := mix(seed + i*0x9e3779b97f4a7c15)
	pick := func(n int) int {
		v := int(h % uint64(n))
		h = mix(h)
		return v
	}
	first, last := firstNames[pick(len(firstNames))], lastNames[pick(len(lastNames))]
	company := companies[pick(len(companies))]
	loc := cities[pick(len(cities))]
	created := epoch.Add(time.Duration(pick(3*365*24*3600)) * time.Second)
	num := strconv.FormatUint(i, 10)
	*c = Contact{
		ID:         contactID(seed, i),
		FirstName:  first,
		LastName:   last,
		Email:      first + "." + last + num + "@example.com",
		Phone:      "+1-415-555-" + strconv.Itoa(1000+pick(9000)),
		Company:    company,
		Title:      titles[(pick(len(titles))+version)%len(titles)],
		Street:     strconv.Itoa(1+pick(9999)) + " " + streets[pick(len(streets))],
		City:       loc.city,
		State:      loc.state,
		PostalCode: strconv.Itoa(10000 + pick(89999)),
		Country:    loc.country,
		OwnerID:    "005" + contactID(seed+1, uint64(pick(50)))[3:],
		CreatedAt:  created,
		UpdatedAt:  created.Add(time.Duration(pick(1000*3600)+version*3600) * time.Second),
	}
}

// avgJSONSize is the mean size of the generated records' JSON.
func avgJSONSize(seed uint64) int {
	total := 0
	var c Contact
	for i := 0; i < 1000; i++ {
		makeContact(&c, seed, uint64(i), 0)
		b, _ := json.Marshal(&c)
		total += len(b)
	}
	return total / 1000
}
