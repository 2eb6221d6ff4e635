package db

import "github.com/giveathon/giveathon"

// SeedCharities is the realistic set of charities `giveathon seed` loads and a new
// development database starts with. The organisations are made up; their EINs have the real
// format (NN-NNNNNNN).
var SeedCharities = []giveathon.Charity{
	{Slug: "riverbend-food-bank", Name: "Riverbend Food Bank", EIN: "31-1482576",
		Description: "Collects surplus food from farms and grocers and delivers it to 140 pantries across the Ohio River valley."},
	{Slug: "open-shelter-alliance", Name: "Open Shelter Alliance", EIN: "94-2873310",
		Description: "Runs year-round emergency shelters and a rapid rehousing programme for families in the Bay Area."},
	{Slug: "literacy-lighthouse", Name: "Literacy Lighthouse", EIN: "13-3958124",
		Description: "Trains volunteer tutors who teach adults to read, with free classes in libraries in all five boroughs."},
	{Slug: "clean-water-coalition", Name: "Clean Water Coalition", EIN: "52-2106743",
		Description: "Replaces lead service lines and tests tap water for free in low-income neighbourhoods."},
	{Slug: "paws-and-claws-rescue", Name: "Paws and Claws Rescue", EIN: "86-1037265",
		Description: "Rescues, treats and rehomes abandoned cats and dogs across the Phoenix metro area."},
	{Slug: "veterans-bridge", Name: "Veterans Bridge", EIN: "54-1690132",
		Description: "Helps veterans find housing, jobs and mental-health care in the first year after service."},
	{Slug: "green-canopy-project", Name: "Green Canopy Project", EIN: "41-2019554",
		Description: "Plants and cares for street trees in neighbourhoods that have the least shade and the hottest summers."},
	{Slug: "first-chapter-books", Name: "First Chapter Books", EIN: "36-4411908",
		Description: "Gives every child born in partner hospitals a library of twelve books by their fifth birthday."},
	{Slug: "harbor-hospice", Name: "Harbor Hospice", EIN: "04-3325870",
		Description: "Provides free end-of-life care at home and support for grieving families on the New England coast."},
	{Slug: "code-forward", Name: "Code Forward", EIN: "47-3350219",
		Description: "Teaches programming to high-school students in rural districts that have no computer science teacher."},
	{Slug: "wildfire-relief-fund", Name: "Wildfire Relief Fund", EIN: "95-4760123",
		Description: "Gets cash, shelter and medical help to families within 48 hours of losing their home to a wildfire."},
	{Slug: "mountain-rescue-volunteers", Name: "Mountain Rescue Volunteers", EIN: "84-1298465",
		Description: "Equips and trains the volunteer search-and-rescue teams of the Colorado Rockies."},
}
