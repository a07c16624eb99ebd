"""The planted world of the synthetic shop: category tree, vocabularies, brands, taste personas, demographics.

Why hand-written: cold-start methods live or die on content and demographic signal, so the text must be
category-specific (a TF-IDF of "Trail Running Shoe ... grippy lugged outsole" has to land near other trail shoes),
brands must belong to departments, personas must span departments (a runner buys shoes, tees and headphones) and
complementary pairs must cross leaves. Random tokens would give a shop where content carries no signal at all.
Everything numeric that depends on the seed (weights, prices, latent vectors) is drawn in ``catalog.py`` /
``users.py``; this module only holds the fixed vocabulary and the planted effect tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Leaf:
    """A leaf category: product nouns for titles, the median price and the lognormal spread of its prices."""

    name: str
    nouns: tuple[str, ...]
    median_price: float
    price_sigma: float


@dataclass(frozen=True)
class SubCategory:
    """Level 2: attributes (name -> values) and description phrases shared by its leaves."""

    name: str
    attributes: dict[str, tuple[str, ...]]
    features: tuple[str, ...]
    leaves: tuple[Leaf, ...]


@dataclass(frozen=True)
class Department:
    """Level 1: brands sold there and adjectives used in titles."""

    name: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    subcategories: tuple[SubCategory, ...] = field(default_factory=tuple)


def _leaf(name: str, nouns: str, median: float, sigma: float) -> Leaf:
    return Leaf(name, tuple(n.strip() for n in nouns.split("|")), median, sigma)


_COLORS = ("Black", "White", "Navy", "Grey", "Red", "Olive", "Blue", "Sand")
_APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")

DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "Sports",
        ("Stridex", "Apexa", "TrailForge", "Velora", "Kinetiq", "Summitline", "Pacer and Co", "Ironpeak"),
        ("Lightweight", "Breathable", "Durable", "Performance", "Pro", "Ultra", "Everyday", "Technical"),
        (
            SubCategory(
                "Shoes",
                {"color": _COLORS, "size": ("EU 38", "EU 39", "EU 40", "EU 41", "EU 42", "EU 43", "EU 44", "EU 45")},
                (
                    "Responsive foam midsole for a springy ride",
                    "Breathable engineered mesh upper",
                    "Grippy rubber outsole for wet and dry surfaces",
                    "Reflective details for low-light sessions",
                    "Padded heel collar and gusseted tongue",
                    "Rocker geometry for smooth transitions",
                ),
                (
                    _leaf("Running", "Running Shoe|Road Runner|Racing Flat", 95, 0.35),
                    _leaf("Trail", "Trail Running Shoe|Trail Runner|Hiking Shoe", 110, 0.3),
                    _leaf("Training", "Training Shoe|Cross Trainer|Gym Shoe", 80, 0.3),
                    _leaf("Basketball", "Basketball Shoe|Court Sneaker|High-Top Sneaker", 120, 0.35),
                ),
            ),
            SubCategory(
                "Apparel",
                {"color": _COLORS, "size": _APPAREL_SIZES, "material": ("Polyester", "Merino Wool", "Nylon")},
                (
                    "Moisture-wicking fabric keeps you dry",
                    "Flatlock seams prevent chafing",
                    "Four-way stretch for full range of motion",
                    "Quick-drying and odour resistant",
                    "Zipped pocket for keys and gels",
                ),
                (
                    _leaf("Tops", "Running Tee|Tank Top|Long Sleeve Top|Base Layer", 35, 0.35),
                    _leaf("Shorts", "Running Shorts|Training Shorts|Tights", 40, 0.3),
                    _leaf("Jackets", "Windbreaker|Rain Jacket|Softshell Jacket|Insulated Vest", 110, 0.4),
                ),
            ),
            SubCategory(
                "Equipment",
                {"color": _COLORS, "weight": ("light", "medium", "heavy")},
                (
                    "Built for daily training at home or outdoors",
                    "Non-slip grip and tear-resistant materials",
                    "Packs down small for travel",
                    "Tested in harsh weather conditions",
                    "Easy to clean and store",
                ),
                (
                    _leaf("Yoga", "Yoga Mat|Yoga Block|Yoga Strap|Meditation Cushion", 30, 0.5),
                    _leaf("Fitness", "Dumbbell Set|Kettlebell|Resistance Band Set|Jump Rope", 45, 0.6),
                    _leaf("Cycling", "Bike Helmet|Cycling Gloves|Bike Light|Bike Pump", 55, 0.5),
                    _leaf("Camping", "Tent|Sleeping Bag|Camping Stove|Trekking Backpack", 120, 0.6),
                ),
            ),
        ),
    ),
    Department(
        "Electronics",
        ("Voltix", "Lumina", "Nordtek", "Quanta", "Sonique", "Pixelon", "Arcwave", "Zentro"),
        ("Compact", "Smart", "Wireless", "Pro", "Ultra-Slim", "High-Speed", "Premium", "Portable"),
        (
            SubCategory(
                "Computers",
                {"color": ("Space Grey", "Silver", "Black"), "warranty": ("1-year warranty", "2-year warranty")},
                (
                    "Fast processor for multitasking and creative work",
                    "Crisp high-resolution display",
                    "All-day battery life",
                    "Backlit keys and precise trackpad",
                    "USB-C and HDMI connectivity",
                ),
                (
                    _leaf("Laptops", "Laptop|Ultrabook|Notebook|2-in-1 Laptop", 950, 0.4),
                    _leaf("Monitors", "Monitor|Gaming Monitor|4K Display|Ultrawide Monitor", 280, 0.45),
                    _leaf("Keyboards", "Mechanical Keyboard|Wireless Keyboard|Keyboard and Mouse Combo", 70, 0.5),
                ),
            ),
            SubCategory(
                "Audio",
                {"color": ("Black", "White", "Midnight Blue"), "connectivity": ("Bluetooth 5.3", "wired", "Wi-Fi")},
                (
                    "Active noise cancellation blocks the commute",
                    "Deep bass and clear vocals",
                    "Up to 30 hours of playback",
                    "Built-in microphone for calls",
                    "Multipoint pairing with two devices",
                ),
                (
                    _leaf("Headphones", "Wireless Headphones|Earbuds|Noise-Cancelling Headphones", 120, 0.6),
                    _leaf("Speakers", "Bluetooth Speaker|Smart Speaker|Soundbar", 110, 0.6),
                ),
            ),
            SubCategory(
                "Photo",
                {"mount": ("E-mount", "RF-mount", "Z-mount", "X-mount"), "kit": ("body only", "with kit lens")},
                (
                    "Sharp images in low light",
                    "Fast autofocus with subject tracking",
                    "Weather-sealed magnesium body",
                    "4K video at 60 frames per second",
                    "Reliable high-speed card writes",
                ),
                (
                    _leaf("Cameras", "Mirrorless Camera|Action Camera|Compact Camera", 650, 0.5),
                    _leaf("Lenses", "Prime Lens|Zoom Lens|Wide-Angle Lens|Macro Lens", 420, 0.5),
                    _leaf("Memory Cards", "SD Card|microSD Card|CFexpress Card", 25, 0.6),
                ),
            ),
            SubCategory(
                "Phones",
                {"color": ("Black", "Graphite", "Rose", "Green", "Clear"), "compatibility": ("iOS", "Android")},
                (
                    "Fast charging when you need it",
                    "Drop-tested protection",
                    "Slim profile that fits any pocket",
                    "Bright OLED screen",
                    "Magnetic alignment for wireless charging",
                ),
                (
                    _leaf("Smartphones", "Smartphone|5G Smartphone|Foldable Phone", 520, 0.5),
                    _leaf("Cases", "Phone Case|Rugged Case|Wallet Case|Screen Protector", 20, 0.4),
                    _leaf("Chargers", "Fast Charger|Wireless Charger|Power Bank|Charging Cable", 30, 0.45),
                ),
            ),
        ),
    ),
    Department(
        "Home",
        ("Hearthly", "Casa Verde", "Oakmont", "Kitchora", "Lunen", "Dwellwise", "Copperleaf", "Nestwood"),
        ("Classic", "Modern", "Handcrafted", "Ergonomic", "Minimalist", "Heavy-Duty", "Elegant", "Cozy"),
        (
            SubCategory(
                "Kitchen",
                {"material": ("stainless steel", "cast iron", "carbon steel", "ceramic"), "color": _COLORS},
                (
                    "Even heat distribution for perfect searing",
                    "Dishwasher safe",
                    "Ergonomic handle stays cool",
                    "Brews barista-quality coffee at home",
                    "Razor-sharp edge that lasts",
                ),
                (
                    _leaf("Cookware", "Frying Pan|Saucepan|Dutch Oven|Cookware Set", 70, 0.6),
                    _leaf("Knives", "Chef's Knife|Knife Block Set|Santoku Knife|Paring Knife", 60, 0.6),
                    _leaf("Coffee Makers", "Espresso Machine|Drip Coffee Maker|French Press|Burr Grinder", 120, 0.8),
                ),
            ),
            SubCategory(
                "Furniture",
                {"material": ("oak", "walnut", "steel", "bamboo"), "color": ("Natural", "Black", "White", "Grey")},
                (
                    "Supports good posture through long workdays",
                    "Tool-free assembly in minutes",
                    "Solid wood construction",
                    "Adjustable height and tilt",
                    "Warm dimmable light",
                ),
                (
                    _leaf("Chairs", "Office Chair|Dining Chair|Armchair|Bar Stool", 180, 0.5),
                    _leaf("Desks", "Standing Desk|Writing Desk|Computer Desk", 260, 0.5),
                    _leaf("Lamps", "Desk Lamp|Floor Lamp|Table Lamp|Pendant Light", 55, 0.5),
                ),
            ),
            SubCategory(
                "Bedding",
                {"size": ("Single", "Double", "Queen", "King"), "material": ("cotton", "linen", "bamboo viscose")},
                (
                    "Soft breathable weave for cooler sleep",
                    "Pre-washed for a lived-in feel",
                    "Hypoallergenic filling",
                    "Deep pockets fit thick mattresses",
                ),
                (
                    _leaf("Sheets", "Sheet Set|Duvet Cover|Fitted Sheet", 60, 0.4),
                    _leaf("Pillows", "Pillow|Memory Foam Pillow|Throw Pillow", 35, 0.45),
                ),
            ),
        ),
    ),
    Department(
        "Fashion",
        ("Maison Ardent", "Velvetine", "Urbanthread", "Copper and Lane", "Norde", "Sable Row", "Little Acorn"),
        ("Tailored", "Vintage", "Casual", "Chic", "Signature", "Relaxed", "Statement", "Timeless"),
        (
            SubCategory(
                "Women",
                {"color": _COLORS, "size": _APPAREL_SIZES, "material": ("silk", "cotton", "leather", "gold-plated")},
                (
                    "Flattering cut for day and evening",
                    "Hand-finished details",
                    "Adjustable strap and secure closure",
                    "Hypoallergenic and tarnish resistant",
                    "Pairs with sneakers or heels",
                ),
                (
                    _leaf("Dresses", "Midi Dress|Wrap Dress|Maxi Dress|Shirt Dress", 70, 0.5),
                    _leaf("Handbags", "Tote Bag|Crossbody Bag|Shoulder Bag|Clutch", 120, 0.7),
                    _leaf("Jewelry", "Necklace|Earrings|Bracelet|Ring", 60, 0.9),
                ),
            ),
            SubCategory(
                "Men",
                {"color": _COLORS, "size": _APPAREL_SIZES, "material": ("cotton", "linen", "leather", "steel")},
                (
                    "Tailored fit that keeps its shape",
                    "Full-grain leather ages beautifully",
                    "Sapphire crystal and water resistance",
                    "Slim profile with RFID protection",
                ),
                (
                    _leaf("Shirts", "Oxford Shirt|Flannel Shirt|Linen Shirt|Polo Shirt", 50, 0.4),
                    _leaf("Watches", "Chronograph Watch|Automatic Watch|Field Watch|Dive Watch", 220, 0.8),
                    _leaf("Wallets", "Leather Wallet|Card Holder|Bifold Wallet", 40, 0.5),
                ),
            ),
            SubCategory(
                "Kids",
                {"color": _COLORS, "age": ("2-3 years", "4-5 years", "6-8 years", "9-12 years")},
                (
                    "Soft organic cotton that is gentle on skin",
                    "Easy on and off",
                    "Built for playground adventures",
                    "Machine washable",
                ),
                (
                    _leaf("Kids Clothing", "Kids Hoodie|Kids T-Shirt|Kids Pajamas|Kids Jeans", 22, 0.4),
                    _leaf("Kids Shoes", "Kids Sneaker|Kids Sandal|Kids Rain Boot", 35, 0.35),
                ),
            ),
        ),
    ),
    Department(
        "Beauty",
        ("Lumiere Lab", "Petalia", "Dermacalm", "Glowe", "Aurea", "Botanix", "Silkroot", "Vivace"),
        ("Hydrating", "Gentle", "Radiant", "Nourishing", "Long-Lasting", "Clean", "Soothing", "Luxe"),
        (
            SubCategory(
                "Skincare",
                {
                    "skin type": ("dry skin", "oily skin", "sensitive skin", "all skin types"),
                    "size": ("30 ml", "50 ml"),
                },
                (
                    "Dermatologist tested and fragrance free",
                    "Locks in moisture for 24 hours",
                    "Brightens and evens skin tone",
                    "Broad-spectrum protection without white cast",
                    "Vegan and cruelty free",
                ),
                (
                    _leaf("Moisturizers", "Face Moisturizer|Night Cream|Gel Cream", 28, 0.5),
                    _leaf("Serums", "Vitamin C Serum|Hyaluronic Serum|Retinol Serum|Niacinamide Serum", 32, 0.5),
                    _leaf("Sunscreen", "Sunscreen SPF 50|Mineral Sunscreen|Tinted Sunscreen", 18, 0.4),
                ),
            ),
            SubCategory(
                "Makeup",
                {"shade": ("Ivory", "Beige", "Honey", "Rose", "Berry", "Mocha"), "finish": ("matte", "satin", "dewy")},
                (
                    "Buildable coverage that feels weightless",
                    "Transfer-proof all-day wear",
                    "Enriched with hyaluronic acid",
                    "Blends seamlessly with fingertips or brush",
                ),
                (
                    _leaf("Lipstick", "Matte Lipstick|Lip Gloss|Lip Tint|Lip Liner", 16, 0.4),
                    _leaf("Foundation", "Liquid Foundation|Cushion Foundation|Concealer", 30, 0.4),
                ),
            ),
            SubCategory(
                "Hair",
                {"hair type": ("curly hair", "fine hair", "colored hair", "all hair types"), "size": ("250 ml", "1 l")},
                (
                    "Sulfate-free formula",
                    "Ionic technology reduces frizz",
                    "Repairs damage from heat styling",
                    "Salon results at home",
                ),
                (
                    _leaf("Shampoo", "Shampoo|Conditioner|Hair Mask|Dry Shampoo", 14, 0.45),
                    _leaf("Hair Dryers", "Hair Dryer|Styling Brush|Straightener|Curling Wand", 70, 0.6),
                ),
            ),
        ),
    ),
    Department(
        "Books",
        ("Northwind Press", "Harbor House", "Quill and Ink", "Bluestone Books", "Meridian", "Lanternfly"),
        ("Gripping", "Bestselling", "Award-Winning", "Illustrated", "Inspiring", "Unputdownable", "Essential"),
        (
            SubCategory(
                "Fiction",
                {"format": ("Paperback", "Hardcover", "eBook", "Audiobook"), "length": ("288 pages", "416 pages")},
                (
                    "A twist you will not see coming",
                    "Richly imagined world and unforgettable characters",
                    "The first book in a new series",
                    "Perfect for a long weekend",
                ),
                (
                    _leaf("Thrillers", "Thriller Novel|Crime Novel|Mystery", 15, 0.3),
                    _leaf("Fantasy", "Fantasy Novel|Epic Fantasy Saga|Dragon Chronicle", 17, 0.3),
                    _leaf("Romance", "Romance Novel|Romantic Comedy|Love Story", 13, 0.3),
                ),
            ),
            SubCategory(
                "Nonfiction",
                {"format": ("Paperback", "Hardcover", "eBook"), "level": ("beginner", "intermediate", "expert")},
                (
                    "Step-by-step recipes with photos",
                    "An honest look at a remarkable life",
                    "Practical habits that stick",
                    "Backed by research and real stories",
                ),
                (
                    _leaf("Cookbooks", "Cookbook|Baking Book|Vegetarian Cookbook", 28, 0.35),
                    _leaf("Biographies", "Biography|Memoir|Autobiography", 20, 0.3),
                    _leaf("Self-Help", "Self-Help Guide|Productivity Book|Mindfulness Workbook", 17, 0.3),
                ),
            ),
        ),
    ),
    Department(
        "Toys and Baby",
        ("Playwise", "Tinytots", "Gamewright", "Brickly", "Sprout", "Puzzlemaster", "Pixelforge"),
        ("Colorful", "Educational", "Award-Winning", "Family", "Safe", "Classic", "Deluxe"),
        (
            SubCategory(
                "Baby",
                {"age": ("0-6 months", "6-12 months", "1-3 years"), "color": ("Mint", "Peach", "Grey", "Yellow")},
                (
                    "BPA-free and safety tested",
                    "One-hand fold for busy parents",
                    "Soft textures that stimulate the senses",
                    "Gentle on sensitive skin",
                ),
                (
                    _leaf("Baby Toys", "Rattle|Activity Gym|Plush Toy|Stacking Rings", 22, 0.5),
                    _leaf("Strollers", "Stroller|Travel System|Jogging Stroller", 320, 0.45),
                    _leaf("Diapers", "Diaper Pack|Baby Wipes|Diaper Bag", 30, 0.45),
                ),
            ),
            SubCategory(
                "Games",
                {"players": ("1 player", "2-4 players", "2-6 players"), "age": ("8+", "10+", "14+")},
                (
                    "Quick to learn and endlessly replayable",
                    "Hours of family fun",
                    "Challenging pieces for sharp minds",
                    "Immersive story and stunning graphics",
                ),
                (
                    _leaf("Board Games", "Board Game|Strategy Game|Party Game|Card Game", 35, 0.4),
                    _leaf("Puzzles", "Jigsaw Puzzle|3D Puzzle|Brain Teaser", 20, 0.4),
                    _leaf("Video Games", "Video Game|Game Controller|Gaming Headset", 55, 0.45),
                ),
            ),
        ),
    ),
    Department(
        "Grocery",
        ("Greenfield", "Morning Ritual", "Crave Co", "Alpine Harvest", "Cocoa Craft", "Teahouse Hills"),
        ("Organic", "Fair Trade", "Artisan", "Single-Origin", "Family Size", "Small Batch"),
        (
            SubCategory(
                "Beverages",
                {"roast": ("light roast", "medium roast", "dark roast"), "pack": ("250 g", "500 g", "1 kg")},
                (
                    "Ethically sourced from small farms",
                    "Rich aroma and smooth finish",
                    "Freshly packed to lock in flavour",
                    "Notes of chocolate and citrus",
                ),
                (
                    _leaf("Coffee", "Whole Bean Coffee|Ground Coffee|Coffee Pods", 15, 0.35),
                    _leaf("Tea", "Green Tea|Herbal Tea|Black Tea|Matcha", 9, 0.35),
                ),
            ),
            SubCategory(
                "Snacks",
                {"flavor": ("Sea Salt", "Sour Cream", "Hazelnut", "Chili Lime"), "pack": ("single", "multipack")},
                (
                    "Made with simple ingredients",
                    "Perfect for movie night",
                    "Crunchy and satisfying",
                    "Melt-in-your-mouth cocoa",
                ),
                (
                    _leaf("Chips", "Potato Chips|Tortilla Chips|Veggie Crisps", 5, 0.3),
                    _leaf("Chocolate", "Dark Chocolate Bar|Truffles|Chocolate Box", 8, 0.5),
                ),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Persona:
    """A latent taste cluster: the leaves it concentrates on (by leaf name)."""

    name: str
    core_leaves: tuple[str, ...]


PERSONAS: tuple[Persona, ...] = (
    Persona("runner", ("Running", "Trail", "Tops", "Shorts", "Fitness", "Headphones", "Sunscreen")),
    Persona("outdoor", ("Trail", "Jackets", "Camping", "Cycling", "Cameras", "Memory Cards", "Coffee")),
    Persona("tech", ("Laptops", "Monitors", "Keyboards", "Headphones", "Speakers", "Smartphones", "Chargers", "Cases")),
    Persona("photographer", ("Cameras", "Lenses", "Memory Cards", "Laptops", "Camping")),
    Persona("home_cook", ("Cookware", "Knives", "Coffee Makers", "Cookbooks", "Coffee", "Tea")),
    Persona("homemaker", ("Chairs", "Desks", "Lamps", "Sheets", "Pillows", "Speakers")),
    Persona("fashionista", ("Dresses", "Handbags", "Jewelry", "Lipstick", "Foundation", "Romance")),
    Persona("dapper", ("Shirts", "Watches", "Wallets", "Shampoo", "Smartphones", "Basketball")),
    Persona("skincare", ("Moisturizers", "Serums", "Sunscreen", "Shampoo", "Hair Dryers", "Lipstick")),
    Persona("parent", ("Kids Clothing", "Kids Shoes", "Baby Toys", "Strollers", "Diapers", "Board Games", "Puzzles")),
    Persona("reader", ("Thrillers", "Fantasy", "Romance", "Biographies", "Self-Help", "Tea", "Chocolate")),
    Persona("gamer", ("Video Games", "Monitors", "Keyboards", "Headphones", "Chips", "Fantasy")),
)

#: Buyers of the first leaf later browse (and buy) the second: cross-category signal for recommenders.
COMPLEMENTARY_LEAVES: tuple[tuple[str, str], ...] = (
    ("Running", "Tops"),
    ("Trail", "Jackets"),
    ("Training", "Shorts"),
    ("Cameras", "Memory Cards"),
    ("Laptops", "Keyboards"),
    ("Smartphones", "Cases"),
    ("Coffee Makers", "Coffee"),
    ("Strollers", "Baby Toys"),
    ("Desks", "Chairs"),
    ("Cookware", "Knives"),
    ("Dresses", "Handbags"),
    ("Serums", "Moisturizers"),
    ("Cookbooks", "Cookware"),
)

# ---------------------------------------------------------------------------------------------------------------
# Demographics and their planted effect on taste (logits added per persona, in PERSONAS order)
# ---------------------------------------------------------------------------------------------------------------
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, 85),
)
AGE_BAND_WEIGHTS: tuple[float, ...] = (0.16, 0.26, 0.22, 0.16, 0.12, 0.08)

GENDERS: tuple[str, ...] = ("F", "M", "X")
GENDER_WEIGHTS: tuple[float, ...] = (0.50, 0.47, 0.03)

#: region -> (share of users, UTC offset in hours of its typical time zone, countries)
REGIONS: dict[str, tuple[float, int, tuple[str, ...]]] = {
    "North America": (0.35, -5, ("US", "US", "US", "US", "CA")),
    "Europe": (0.35, 1, ("DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE")),
    "Asia Pacific": (0.18, 8, ("JP", "KR", "AU", "SG", "IN")),
    "Latin America": (0.12, -3, ("BR", "MX", "AR", "CO", "CL")),
}

#: rows: age bands; columns: personas
AGE_EFFECTS: tuple[tuple[float, ...], ...] = (
    # run  outd  tech  photo cook  home  fash  dapp  skin  par   read  game
    (0.6, 0.0, 0.6, -0.2, -0.8, -0.8, 0.8, 0.2, 0.4, -1.5, -0.4, 1.3),  # 18-24
    (0.6, 0.3, 0.5, 0.3, -0.2, 0.1, 0.5, 0.5, 0.4, 0.8, -0.4, 0.6),  # 25-34
    (0.2, 0.4, 0.1, 0.4, 0.3, 0.4, 0.0, 0.4, 0.2, 1.0, -0.2, -0.1),  # 35-44
    (-0.2, 0.2, -0.2, 0.3, 0.5, 0.4, -0.3, 0.1, 0.0, -0.1, 0.3, -0.8),  # 45-54
    (-0.6, -0.2, -0.5, 0.1, 0.5, 0.3, -0.5, -0.2, -0.2, -0.8, 0.8, -1.3),  # 55-64
    (-1.0, -0.6, -0.8, -0.3, 0.4, 0.2, -0.7, -0.5, -0.4, -1.2, 1.2, -1.8),  # 65+
)
#: rows: F, M, X
GENDER_EFFECTS: tuple[tuple[float, ...], ...] = (
    (0.0, -0.2, -0.6, -0.2, 0.3, 0.3, 1.4, -1.4, 1.2, 0.3, 0.4, -0.9),
    (0.0, 0.3, 0.6, 0.3, -0.2, -0.2, -1.6, 1.3, -1.2, -0.1, -0.3, 0.9),
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.4, 0.0, 0.2, 0.2),
)
#: rows: regions in REGIONS order
REGION_EFFECTS: tuple[tuple[float, ...], ...] = (
    (0.2, 0.5, 0.0, -0.1, 0.0, 0.2, -0.1, 0.0, -0.2, 0.1, 0.2, 0.0),
    (0.1, 0.3, -0.1, 0.1, 0.4, 0.2, 0.2, 0.3, 0.0, -0.1, 0.3, -0.1),
    (0.0, -0.3, 0.6, 0.4, -0.1, -0.2, 0.1, 0.0, 0.6, 0.0, -0.1, 0.5),
    (0.1, -0.1, 0.0, 0.0, 0.2, 0.0, 0.4, 0.1, 0.2, 0.4, -0.2, 0.2),
)

#: Relative shopping activity by local hour (0..23): quiet nights, a lunch bump, an evening peak.
HOURLY_PROFILE: tuple[float, ...] = (
    1.2, 0.7, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.9, 3.2,
    3.6, 3.3, 3.0, 3.0, 3.2, 3.6, 4.2, 4.9, 5.3, 4.8, 3.5, 2.1,
)  # fmt: skip

#: Activity multiplier by weekday (Monday = 0): weekends shop more.
WEEKDAY_FACTORS: tuple[float, ...] = (0.95, 0.92, 0.95, 0.97, 1.0, 1.12, 1.09)

#: Event types that are not in the contract (bad records of kind ``unknown_event_type``); deliberately nothing a
#: synonym map could claim (no "add_to_cart", "buy", "like").
UNKNOWN_EVENT_TYPES: tuple[str, ...] = ("heartbeat", "scroll_depth", "hover", "page_ping", "ad_impression")


def leaf_paths() -> list[str]:
    """Every leaf as its ``category_path`` ("Sports>Shoes>Running"), in tree order."""
    return [
        f"{dept.name}>{sub.name}>{leaf.name}"
        for dept in DEPARTMENTS
        for sub in dept.subcategories
        for leaf in sub.leaves
    ]


def category_tree() -> dict[str, dict[str, list[str]]]:
    """The tree as nested dicts, as written to the ground truth."""
    return {
        dept.name: {sub.name: [leaf.name for leaf in sub.leaves] for sub in dept.subcategories} for dept in DEPARTMENTS
    }
